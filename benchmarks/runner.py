"""Benchmark of the session runner: a whole dry run, and trial-start timing on a real-time clock.

1. ``dry_run``: the quick preset (or ``--protocol``) on the simulated microscope, in this process; prints the wall
   time, the experiment (simulated) time it covered and their ratio (targets, issue 7: quick ≤ 60 s; the default
   protocol, ~1 h of experiment, ≤ 300 s). Baseline measured in the same run: the per-frame cost of the imaging
   loop alone (render + online analysis of 30 s of frames), which sets the floor of any dry run.
2. ``jitter``: the real-``run`` timing path — ``Acquisition.wait_until`` with :class:`rig.hardware.MonotonicClock`
   against an imaging source that delivers 512 × 512 frames in real time (18 frames/s) — asked to start trials on a
   3 s grid; prints scheduled vs actual start differences (target: p99 ≤ 5 ms).

    python benchmarks/runner.py [--protocol configs/protocols/quick.yaml] [--trials 20] [--skip-dry-run]

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rig.config import load_protocol, load_rig  # noqa: E402
from rig.hardware.clock import MonotonicClock  # noqa: E402
from rig.hardware.frames import Frame  # noqa: E402
from rig.runner import Progress, start_session  # noqa: E402
from rig.runner.acquisition import Acquisition  # noqa: E402
from rig.runner.hardware import HardwareBundle  # noqa: E402
from rig.session import SessionReader  # noqa: E402


def dry_run(protocol_path: Path, seed: int) -> dict:
    rig = load_rig(REPO / "configs/rig/sim.yaml")
    protocol = load_protocol(protocol_path)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.h5"
        start = time.perf_counter()
        summary = start_session(out, rig=rig, protocol=protocol, seed=seed, progress=Progress(enabled=False))
        wall = time.perf_counter() - start
        with SessionReader(out) as r:
            t = r.trials()
            experiment_s = float(np.nanmax(t["t_end_s"]))
            frames = sum(len(r.traces(k).frame) for k in range(r.n_planes))
    return {"protocol": protocol.name, "wall_s": round(wall, 1), "experiment_s": round(experiment_s, 1),
            "speedup_vs_real_time": round(experiment_s / wall, 1), "frames": frames,
            "wall_ms_per_frame": round(1000 * wall / max(frames, 1), 2), "trials": len(t),
            "stim_valid": f"{summary.get('stim_valid')}/{summary.get('stim_trials')}"}


def frame_loop_baseline(seed: int, seconds: float = 30.0) -> dict:
    """Render + analyse frames only (no stages): the floor of the per-frame cost."""
    import sims
    from online import OnlinePipeline
    from rig.runner.stages.targets import find_cells
    import scipy.sparse as sp

    rig = load_rig(REPO / "configs/rig/sim.yaml")
    micro = sims.build_microscope(rig, seed=seed)
    imgs = [micro.scanner.red_image(k) for k in range(3)]
    cells, _ = find_cells(imgs, rig.imaging.planes_z_um, rig.imaging.um_per_px)
    pipes = []
    for k in range(3):
        rows = np.flatnonzero(cells.plane == k)
        indptr = np.concatenate([[0], np.cumsum([len(cells.masks[r][0]) for r in rows])])
        mat = sp.csr_matrix((np.concatenate([cells.masks[r][1] for r in rows]),
                             np.concatenate([cells.masks[r][0] for r in rows]), indptr), shape=(len(rows), 512 * 512))
        pipes.append(OnlinePipeline(mat, (512, 512)))
    n = int(seconds * rig.imaging.volume_rate_hz * 3)
    start = time.perf_counter()
    for _ in range(n):
        f = micro.scanner.next_frame(1.0)
        pipes[f.plane].process(f.image, frame_index=f.counter // 3)
    wall = time.perf_counter() - start
    return {"frames": n, "wall_ms_per_frame": round(1000 * wall / n, 2)}


class RealTimeImaging:
    """Frames of a fixed image arriving in real time at ``rate_hz`` (what ScanImage does)."""

    def __init__(self, rate_hz: float, shape=(512, 512)):
        self.period = 1.0 / rate_hz
        self.t0 = time.perf_counter()
        self.counter = 0
        self.image = np.random.default_rng(0).integers(0, 200, shape).astype(np.int16)

    def next_frame(self, timeout_s):
        due = self.t0 + self.counter * self.period
        now = time.perf_counter()
        if due > now + timeout_s:
            time.sleep(max(timeout_s, 0))
            return None
        if due > now:
            time.sleep(due - now)
        self.counter += 1
        return Frame(self.counter - 1, due - self.t0, time.perf_counter(), (self.counter - 1) % 3, 1, self.image)

    def close(self):
        pass


class Wheel:
    def speed_cm_s(self):
        return time.perf_counter(), 0.0


class Sink:
    def append_behaviour(self, *a):
        pass


def jitter(n_trials: int, period_s: float = 3.0) -> dict:
    clock = MonotonicClock()
    hw = HardwareBundle(slm=None, laser=None, imaging=RealTimeImaging(18.0), visual=None, treadmill=Wheel(),
                        clock=clock, simulated=False)
    acq = Acquisition(hw, Sink(), 3, 6.0, timeout_s=3.0, on_lost=lambda peer, s: None)
    t0 = acq.now() + 0.5
    late = []
    for i in range(n_trials):
        target = t0 + i * period_s
        actual = acq.wait_until(target)
        late.append(actual - target)
        time.sleep(0.02)             # pretend to fire (show mask, set power, pulse)
    late_ms = 1000 * np.asarray(late)
    return {"trials": n_trials, "median_ms": round(float(np.median(late_ms)), 3),
            "p99_ms": round(float(np.percentile(late_ms, 99)), 3), "max_ms": round(float(late_ms.max()), 3),
            "early": int(np.sum(late_ms < 0)), "target_p99_ms": 5.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default=str(REPO / "configs/protocols/quick.yaml"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=20, help="trial starts timed in the jitter test")
    parser.add_argument("--skip-dry-run", action="store_true")
    args = parser.parse_args()
    out = {"cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    out["jitter"] = jitter(args.trials)
    out["frame_loop_baseline"] = frame_loop_baseline(args.seed)
    if not args.skip_dry_run:
        out["dry_run"] = dry_run(Path(args.protocol), args.seed)
        out["dry_run"]["ratio_to_frame_floor"] = round(
            out["dry_run"]["wall_ms_per_frame"] / out["frame_loop_baseline"]["wall_ms_per_frame"], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
