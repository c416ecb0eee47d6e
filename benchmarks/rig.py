"""Benchmark: hologram switch on command, controller → SLM server → shown, on loopback.

Starts ``holostim slm-server --driver null`` (a recording SLM of the sim rig's 1152 × 1920 pixels) as its own
process, loads a session's masks, then times ``show`` requests from this process until the ``shown`` reply is
back. Baseline, measured in the same run: a bare ZMQ REQ/REP echo between two processes, the floor any
request/reply switch can reach. Target (issue 7): median switch ≤ 2 ms.

    python benchmarks/rig.py [--n 2000] [--masks 20]

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zmq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rig.wire.client import SlmClient  # noqa: E402

ECHO_SERVER = """
import sys, zmq
s = zmq.Context().socket(zmq.REP); s.bind("tcp://127.0.0.1:*")
print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
while True:
    msg = s.recv_multipart()
    if msg == [b"stop"]:
        s.send(b"bye"); break
    s.send_multipart(msg)
"""


def _percentiles_ms(seconds: list[float]) -> dict:
    a = np.asarray(seconds) * 1e3
    return {"median_ms": float(np.median(a)), "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max())}


def echo_baseline(n: int) -> dict:
    process = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        endpoint = process.stdout.readline().strip()
        socket = zmq.Context.instance().socket(zmq.REQ)
        socket.connect(endpoint)
        payload = b'{"type":"show","index":3,"seq":0}'
        times = []
        for i in range(n + 100):
            t0 = time.perf_counter()
            socket.send(payload)
            socket.recv()
            if i >= 100:
                times.append(time.perf_counter() - t0)
        socket.send(b"stop")
        socket.recv()
        socket.close(linger=0)
        return _percentiles_ms(times)
    finally:
        process.wait(timeout=10)


def slm_switch(n: int, n_masks: int) -> dict:
    command = [sys.executable, "-m", "rig.cli", "--log-level", "warning", "slm-server", "--rig",
               str(REPO / "configs/rig/sim.yaml"), "--driver", "null", "--endpoint", "tcp://127.0.0.1:*"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        endpoint = process.stdout.readline().split()[-1]
        with SlmClient(endpoint, timeout_s=30) as client:
            phase = np.random.default_rng(0).uniform(0, 2 * np.pi, (n_masks, 1152, 1920)).astype(np.float32)
            t0 = time.perf_counter()
            client.load_masks(phase, session_id="bench")
            load_s = time.perf_counter() - t0
            order = np.random.default_rng(1).integers(0, n_masks, n + 100)
            times, server_latency = [], []
            for i, index in enumerate(order):
                t0 = time.perf_counter()
                shown = client.show(int(index), seq=i)
                if i >= 100:
                    times.append(time.perf_counter() - t0)
                    server_latency.append(shown.latency_s)
            client.shutdown()
        result = _percentiles_ms(times)
        result["server_side_median_ms"] = float(np.median(server_latency) * 1e3)
        result["load_phase_masks_s"] = load_s
        result["masks"] = n_masks
        return result
    finally:
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="timed switches")
    parser.add_argument("--masks", type=int, default=20, help="masks in the session (full 1152 × 1920 phases)")
    args = parser.parse_args()
    baseline = echo_baseline(args.n)
    switch = slm_switch(args.n, args.masks)
    print(json.dumps({
        "benchmark": "hologram switch on command (controller → slm-server → shown), loopback, null SLM",
        "n": args.n,
        "switch": switch,
        "zmq_echo_baseline": baseline,
        "switch_over_echo_median": switch["median_ms"] / baseline["median_ms"],
        "target_median_ms": 2.0,
        "meets_target": switch["median_ms"] <= 2.0,
    }, indent=2))


if __name__ == "__main__":
    main()
