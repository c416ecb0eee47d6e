"""``holostim slm-server``: starts, serves, and stops on a shutdown message or SIGINT."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rig.wire.client import SlmClient

REPO = Path(__file__).resolve().parents[2]
SIM_RIG = REPO / "configs" / "rig" / "sim.yaml"


def _start():
    process = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "slm-server", "--rig", str(SIM_RIG), "--endpoint", "tcp://127.0.0.1:*"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()  # 'slm-server listening on tcp://127.0.0.1:PORT'
    if "listening on" not in line:
        process.kill()
        pytest.fail(f"server did not start: {line!r} {process.stderr.read()}")
    return process, line.split()[-1]


def test_serves_and_stops_on_a_shutdown_message():
    process, endpoint = _start()
    try:
        with SlmClient(endpoint, timeout_s=10) as client:
            masks = np.random.default_rng(0).integers(0, 256, (2, 1152, 1920), dtype=np.uint8)
            assert client.load_masks(masks, session_id="cli").count == 2
            assert client.show(1).index == 1
            assert client.status().shown_count == 1
            client.shutdown()
        assert process.wait(timeout=10) == 0
        assert "slm-server stopped" in process.stdout.read()
    finally:
        process.kill()
        process.wait(timeout=10)


def test_stops_cleanly_on_sigint():
    process, endpoint = _start()
    try:
        with SlmClient(endpoint, timeout_s=10) as client:
            client.ping()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait(timeout=10)


def test_non_loopback_endpoint_is_refused_with_exit_code_2():
    result = subprocess.run([sys.executable, "-m", "rig.cli", "slm-server", "--rig", str(SIM_RIG),
                             "--endpoint", "tcp://192.168.1.5:5557"], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "not loopback" in result.stderr and "Traceback" not in result.stderr
