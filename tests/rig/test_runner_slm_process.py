"""The dry run's SLM server as a child process (``--slm process``): the simulated SLM mirrors what it acknowledges,
losing it calls the laser-off-then-pause hook, and it never outlives the runner."""
import subprocess
import sys
import time

import numpy as np
import pytest

from rig.drivers.null_slm import NullSLM
from rig.runner.child import ChildProcess
from rig.runner.slm_link import SlmLink
from rig.wire.client import PeerTimeout

SHAPE = (24, 40)


def _phases(n):
    return np.random.default_rng(n).uniform(0, 2 * np.pi, (n, *SHAPE)).astype(np.float32)


def test_the_mirror_gets_what_the_child_server_accepted_and_shows():
    mirror = NullSLM(SHAPE, 8)
    link = SlmLink(mirror, SHAPE, 8, mode="process", timeout_s=5.0)
    child = link._child
    try:
        assert child.alive()
        link.load(_phases(3), session_id="test")
        assert mirror.masks.shape == (3, *SHAPE) and mirror.masks.dtype == np.uint8
        link.show(2)
        link.show(1)
        assert [s.index for s in mirror.shown] == [2, 1]
        link.heartbeat()
    finally:
        link.close()
    assert child.proc.wait(timeout=10) == 0          # shut down by the link, not killed


def test_a_dead_child_server_is_lost_and_the_mirror_keeps_its_last_mask():
    lost = []
    mirror = NullSLM(SHAPE, 8)
    link = SlmLink(mirror, SHAPE, 8, mode="process", timeout_s=0.5, on_lost=lambda peer, s: lost.append(peer))
    try:
        link.load(_phases(2))
        link.show(0)
        link._child.proc.kill()
        link._child.proc.wait(timeout=10)
        with pytest.raises(PeerTimeout):
            link.show(1)
        assert lost == ["the SLM server"]
        assert [s.index for s in mirror.shown] == [0]  # never told a mask was shown that was not
    finally:
        link.close()


def test_the_child_server_exits_when_its_parent_is_gone():
    child = ChildProcess("rig.slm_server", ["--shape", *SHAPE], what="the SLM server process")
    assert child.announcement(timeout_s=60)["endpoint"].startswith("tcp://127.0.0.1:")
    child.proc.stdin.close()                        # what the OS does when the runner dies, even after kill -9
    start = time.monotonic()
    assert child.proc.wait(timeout=10) == 0
    assert time.monotonic() - start < 5
    child.stop()


def test_the_child_server_binds_loopback_only():
    result = subprocess.run([sys.executable, "-m", "rig.slm_server", "--endpoint", "tcp://0.0.0.0:*"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode != 0 and "loopback only" in result.stderr


def test_a_rig_session_refuses_the_dry_run_slm_mode_before_touching_hardware(tmp_path, repo_root):
    from rig.config import load_protocol, load_rig
    from rig.runner import start_session
    from rig.runner.errors import RunnerError

    rig = load_rig(repo_root / "configs/rig/meadowlark-3dshot.yaml")
    with pytest.raises(RunnerError, match="--slm process is for dry runs"):
        start_session(tmp_path / "s.h5", rig=rig, protocol=load_protocol(repo_root / "configs/protocols/quick.yaml"),
                      seed=0, slm_mode="process")
    assert not (tmp_path / "s.h5").exists()
