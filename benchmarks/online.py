"""Throughput and latency of the online pipeline, with plain baselines measured in the same run.

Targets (issue: online analysis): ≥ 300 frames/s for 512 × 512 frames with 1,000 footprints on one core, and a
median latency from frame in to updated ΔF/F ≤ 5 ms. ``dry_run_like`` repeats the measurement in the setting of
``holostim dry-run``: 3 planes of 512 × 512 with ~350 cells each, one pipeline per plane, frames interleaved.

Run:  python benchmarks/online.py [--frames 1000] [--cells 1000] [--size 512] [--dry-run-planes 3] [--dry-run-cells 350]
      python benchmarks/online.py --sim-accuracy [--seed 0]   # accuracy targets, ~2.5 min

``--sim-accuracy`` runs a dry run of the seed-002 tuning block (the preset's repetitions: 40 valid trials per
condition, excluded trials retaken) and power test (8 powers × 3 repetitions) on the simulated microscope (default 800 µm field) and scores it against the planted truth
(:mod:`rig.ground_truth`): median PO error < 10°, OSI correlation > 0.9, stimmable power within one step ≥ 90 %.

Prints one JSON object. Baselines: registration by a plain full-resolution phase correlation with numpy's
complex FFTs; extraction by indexing each footprint and annulus separately; F0 by ``np.percentile`` over the
window each frame. Threads are pinned to one (the rig runs one process per plane).
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from online import OnlineConfig, OnlinePipeline  # noqa: E402

cv2.setNumThreads(1)


def make_scene(rng, size: int, n_cells: int, n_frames: int):
    """Disk footprints (radius 5 px) on a textured background, and ``n_frames`` noisy shifted frames."""
    yy, xx = np.mgrid[:size, :size]
    centres = rng.uniform(8, size - 8, (n_cells, 2))
    masks = np.zeros((n_cells, size, size), bool)
    for i, (cy, cx) in enumerate(centres):
        y0, y1, x0, x1 = int(cy) - 6, int(cy) + 7, int(cx) - 6, int(cx) + 7
        masks[i, y0:y1, x0:x1] = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 <= 25
    scene = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 4) * 200 + 50
    scene += masks.sum(axis=0) * 100.0
    frames = []
    for _ in range(n_frames):
        dy, dx = rng.normal(0, 1.5, 2)
        warp = np.float32([[1, 0, dx], [0, 1, dy]])
        img = cv2.warpAffine(scene, warp, (size, size), borderMode=cv2.BORDER_REFLECT)
        frames.append((img + rng.normal(0, 10, img.shape)).astype(np.uint16))
    return masks, frames


def time_calls(fn, args_list) -> np.ndarray:
    out = np.empty(len(args_list))
    for i, args in enumerate(args_list):
        t0 = time.perf_counter()
        fn(*args)
        out[i] = time.perf_counter() - t0
    return out


def bench_pipeline(planes, n_timed: int, config: OnlineConfig) -> dict:
    """Throughput and latency of one pipeline per plane, fed plane-interleaved frames (as the rig does).

    ``planes``: per plane ``(masks, frames)``. Throughput and latency are per plane-frame; ``volumes_per_s`` is
    the rate of whole volumes (one frame of every plane)."""
    pipes = [OnlinePipeline(masks, config=config) for masks, _ in planes]
    warm = config.reference_frames + 20
    for i in range(warm):
        for pipe, (_, frames) in zip(pipes, planes):
            pipe.process(frames[i % len(frames)], frame_index=i)
    n_volumes = max(1, n_timed // len(planes))
    lat = np.empty(n_volumes * len(planes))
    t_start = time.perf_counter()
    for j in range(n_volumes):
        i = warm + j
        for k, (pipe, (_, frames)) in enumerate(zip(pipes, planes)):
            t0 = time.perf_counter()
            pipe.process(frames[i % len(frames)], frame_index=i)
            lat[j * len(planes) + k] = time.perf_counter() - t0
    total = time.perf_counter() - t_start
    return dict(frames_per_s=lat.size / total, volumes_per_s=n_volumes / total,
                latency_median_ms=1e3 * float(np.median(lat)), latency_p95_ms=1e3 * float(np.percentile(lat, 95)),
                latency_max_ms=1e3 * float(lat.max()), stage_ms=stage_ms(pipes[0], planes[0][1]),
                report=pipes[0].report()["counts"])


def stage_ms(pipe, frames, n: int = 100) -> dict:
    """Median cost of each stage on steady-state frames, ms (registration = shift estimate + resampling)."""
    f32 = [frames[k % len(frames)].astype(np.float32) for k in range(n)]
    shifts = [pipe.motion.estimate_shift(f) for f in f32]
    est = time_calls(pipe.motion.estimate_shift, [(f,) for f in f32])
    res = time_calls(pipe.motion.apply_shift, [(f, s.dy, s.dx) for f, s in zip(f32, shifts)])
    reg = time_calls(pipe.motion.register, [(f,) for f in f32])
    registered = [pipe.motion.apply_shift(f, s.dy, s.dx) for f, s in zip(f32, shifts)]
    ext = time_calls(pipe.footprints.extract, [(r,) for r in registered])
    vals = [(np.random.default_rng(k).normal(100, 5, pipe.n_cells).astype(np.float32),) for k in range(n)]
    base = time_calls(pipe.extractor.baseline.push, vals)
    med = lambda t: 1e3 * float(np.median(t))  # noqa: E731
    return dict(registration=med(reg), shift_estimate=med(est), resampling=med(res), extraction=med(ext),
                baseline_f0=med(base))


def plain_registration_ms(frames, n: int = 30) -> float:
    """Full-resolution phase correlation with numpy complex FFTs and an integer peak (no subpixel)."""
    ref = np.fft.fft2(frames[0].astype(np.float64))
    def reg(f):
        c = np.fft.fft2(f.astype(np.float64)) * np.conj(ref)
        corr = np.fft.ifft2(c / (np.abs(c) + 1e-9)).real
        np.unravel_index(np.argmax(corr), corr.shape)
    return 1e3 * float(np.median(time_calls(reg, [(frames[i % len(frames)],) for i in range(n)])))


def plain_extraction_ms(pipe_footprints, frame, n: int = 10) -> float:
    """Each footprint and annulus as its own index array (a per-cell loop)."""
    m = pipe_footprints.matrix
    rows = [m.indices[m.indptr[i]:m.indptr[i + 1]] for i in range(m.shape[0])]
    weights = [m.data[m.indptr[i]:m.indptr[i + 1]] for i in range(m.shape[0])]
    flat = frame.ravel()
    def ext():
        return np.array([np.dot(flat[r], w) for r, w in zip(rows, weights)])
    return 1e3 * float(np.median(time_calls(ext, [()] * n)))


def plain_percentile_ms(n_cells: int, window: int, n: int = 10) -> float:
    hist = np.random.default_rng(0).normal(100, 5, (n_cells, window)).astype(np.float32)
    return 1e3 * float(np.median(time_calls(lambda: np.percentile(hist, 10, axis=1), [()] * n)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000, help="timed frames")
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dry-run-planes", type=int, default=3, help="planes of the dry-run-like setting")
    ap.add_argument("--dry-run-cells", type=int, default=350, help="cells per plane of the dry-run-like setting")
    ap.add_argument("--sim-accuracy", action="store_true", help="score a dry run against the simulator's truth")
    args = ap.parse_args(argv)
    if args.sim_accuracy:
        return sim_accuracy(args.seed)
    rng = np.random.default_rng(args.seed)
    config = OnlineConfig()
    masks, frames = make_scene(rng, args.size, args.cells, 64)
    ours = bench_pipeline([(masks, frames)], args.frames, config)
    pipe = OnlinePipeline(masks, config=config)
    plain = dict(registration=plain_registration_ms(frames),
                 extraction=plain_extraction_ms(pipe.footprints, frames[0].astype(np.float32)),
                 baseline_f0=plain_percentile_ms(args.cells, config.baseline_window_frames))
    # The dry run's setting: 3 planes of 512 × 512, ~350 cells each, frames interleaved plane by plane.
    dry_planes = [make_scene(rng, args.size, args.dry_run_cells, 32) for _ in range(args.dry_run_planes)]
    dry = bench_pipeline(dry_planes, args.frames, config)
    dry_pipe = OnlinePipeline(dry_planes[0][0], config=config)
    dry_plain = dict(registration=plain["registration"],
                     extraction=plain_extraction_ms(dry_pipe.footprints, dry_planes[0][1][0].astype(np.float32)),
                     baseline_f0=plain_percentile_ms(args.dry_run_cells, config.baseline_window_frames))
    out = dict(
        setup=dict(size=args.size, cells=args.cells, timed_frames=args.frames, threads=1,
                   neuropil_pixels_median=int(np.median(pipe.footprints.neuropil_pixels)),
                   registration_downsample=pipe.motion.downsample),
        pipeline=ours,
        targets=dict(frames_per_s=300.0, latency_median_ms=5.0),
        meets=dict(frames_per_s=ours["frames_per_s"] >= 300.0, latency=ours["latency_median_ms"] <= 5.0),
        plain_stage_ms=plain,
        speedup_vs_plain={k: plain[k] / ours["stage_ms"][k] for k in plain},
        plain_frames_per_s=1e3 / sum(plain.values()),
        speedup_total=ours["frames_per_s"] / (1e3 / sum(plain.values())),
        dry_run_like=dict(
            setup=dict(planes=args.dry_run_planes, size=args.size, cells_per_plane=args.dry_run_cells,
                       interleaved=True),
            pipeline=dry,
            plain_stage_ms=dry_plain,
            speedup_vs_plain={k: dry_plain[k] / dry["stage_ms"][k] for k in dry_plain},
            speedup_total=dry["frames_per_s"] / (1e3 / sum(dry_plain.values()))),
    )
    print(json.dumps(out, indent=2, default=float))
    return 0


ACCURACY_PROTOCOL = """\
kind: protocol
name: accuracy
power_test: {powers_mw: [12.5, 25.0, 37.5, 50.0, 62.5, 75.0, 87.5, 100.0], repetitions: 3}
stimulation: {repetitions: 1, no_stim_repetitions: 1}
optimizer: {kind: optimizer, ensembles: [{count: 4, spatial: any, tuning: any}], restarts: 1, seed: 0}
"""


def sim_accuracy(seed: int) -> int:
    """Dry run (tuning + power test at the protocol's repetitions) scored against the simulated ground truth."""
    import contextlib
    import io
    import tempfile

    from rig.cli import main as cli
    from rig.ground_truth import TARGETS, score_session

    with tempfile.TemporaryDirectory() as tmp:
        protocol, out = Path(tmp) / "accuracy.yaml", Path(tmp) / "s.h5"
        protocol.write_text(ACCURACY_PROTOCOL)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):      # the run's summary; the JSON is the output
            code = cli(["-q", "dry-run", "--protocol", str(protocol), "--out", str(out), "--no-progress",
                        "--seed", str(seed)])
        if code:
            return code
        score = score_session(out)
    score = {k: None if isinstance(v, float) and v != v else v for k, v in score.items()}   # NaN → null
    score["wall_s"] = time.perf_counter() - started
    score["targets"] = {name: f"{op} {target:g}" for name, op, target in TARGETS}
    print(json.dumps(score, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
