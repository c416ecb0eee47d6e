"""Benchmarks of the simulated microscope (prints JSON).

Targets (issue "Simulated microscope"): one ensemble's response over all cells ≤ 5 ms; frame rendering ≥ 300
frames/s of 512 × 512 on one core; a seed-002 protocol (~65,000 frames, about an hour) simulated ≥ 12× faster
than real time. Each figure comes with a plain baseline measured in the same run:

* response: the precomputed pathway matrices (column pick) vs the plain sparse products through the network
  (W_ee s + W_ee (W_ee s) + W_ei (W_ie s)) per ensemble;
* rendering: footprint-only sparse update + noise pool vs a dense render (full-canvas sparse product and freshly
  drawn float64 Gaussian noise per frame);
* dry run: frames of a protocol-like schedule (gratings, then ensemble trains every 4 s through the mock SLM and
  laser), reported as simulated seconds per wall second; ``--frames`` sets how many (default 6,500, a tenth of
  the protocol; ``--frames 65000`` runs all of it).

Run: ``python benchmarks/sims.py [--frames N]``. Thread counts are pinned to 1 (one core).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

# This file is named like the package it measures: make ``import sims`` find the package, not this script.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def _best(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def bench_response(m) -> dict:
    from sims.photostim import direct_spikes_per_pulse, expected_dff
    pop, net, resp, cfg = m.population, m.network, m.responder, m.config
    rng = np.random.default_rng(0)
    ensembles = [rng.choice(np.flatnonzero(pop.opsin), 10, replace=False) for _ in range(50)]
    spikes = []
    for e in ensembles:
        s = np.zeros(pop.n, dtype=np.float32)
        s[e] = 10.0
        spikes.append(s)
    ee_cols = net.ee_to_imaged()
    n = pop.n

    def plain(s):
        s64 = s.astype(np.float64)
        first = net.ee_in[:, :n] @ s64
        second = net.ee_in @ (ee_cols @ s64)
        inhib = net.ei_in @ (net.ie_out @ s64)
        return cfg.response_gain * (first + second + inhib)

    fast_s = _best(lambda: [resp.respond(s) for s in spikes], 5) / len(spikes)
    plain_s = _best(lambda: [plain(s) for s in spikes], 3) / len(spikes)
    assert np.allclose(resp.respond(spikes[0]), plain(spikes[0]), rtol=1e-3, atol=1e-4)

    def full(e):
        p = direct_spikes_per_pulse(pop, cfg, pop.xyz_um[e], 1.15 * pop.stimmable_power_mw[e])
        return expected_dff(pop, cfg, resp, p)
    full_s = _best(lambda: [full(e) for e in ensembles], 3) / len(ensembles)
    return {"cells": int(n), "response_ms": fast_s * 1e3, "plain_sparse_ms": plain_s * 1e3,
            "speedup": plain_s / fast_s, "with_optics_and_calcium_ms": full_s * 1e3,
            "target_ms": 5.0, "meets_target": full_s * 1e3 <= 5.0}


def bench_render(m, n_frames: int = 300) -> dict:
    sc = m.scanner
    pl = sc._planes[1]
    h, w = sc.pixels

    def fast():
        for k in range(n_frames):
            sc.render(k % sc.n_planes, 10.0 + k / 18.0, (k % 3, -(k % 2)))

    def plain():
        """Dense render: the whole canvas in float64, np.add.at scatter, fresh Gaussian noise each frame."""
        rng = np.random.default_rng(1)
        for _ in range(n_frames // 5):
            dff = m.activity.dff()[pl["cells"]]
            canvas = pl["neuropil"].astype(np.float64).ravel().copy()
            np.add.at(canvas, pl["pix"], pl["S"] @ (pl["f0"] * (1.0 + dff)))
            img = canvas.reshape(sc.canvas_shape)[24:24 + h, 24:24 + w]
            img = img + np.sqrt(img + 1.0) * rng.normal(size=img.shape)
            np.clip(img, -32768, 32767).astype(np.int16)

    fast_s = _best(fast, 3) / n_frames
    plain_s = _best(plain, 3) / (n_frames // 5)
    return {"frame_px": [h, w], "frames_per_s": 1.0 / fast_s, "plain_frames_per_s": 1.0 / plain_s,
            "speedup": plain_s / fast_s, "target_frames_per_s": 300.0, "meets_target": 1.0 / fast_s >= 300.0}


def bench_dry_run(m, n_frames: int) -> dict:
    """Frames of a protocol-like schedule through the public parts (clock, SLM, laser, visual, scanner)."""
    import holography
    pop = m.population
    rng = np.random.default_rng(2)
    eligible = np.flatnonzero(pop.opsin & (pop.stimmable_power_mw < 100))
    masks, requests = [], []
    for _ in range(6):
        cells = rng.choice(eligible, 10, replace=False)
        req = 1.15 * pop.stimmable_power_mw[cells]
        slm_xyz = m.mapping.to_slm(pop.xyz_um[cells])
        w = holography.power_weights(slm_xyz, req, m.slm.geometry)
        masks.append(holography.compute_phase(slm_xyz, m.slm.geometry, weights=w, iterations=8).phase)
        requests.append(req)
    m.slm.load_phases(np.stack(masks))
    sc = m.scanner
    start_frame = sc.counter
    next_event = m.clock.now() + 1.0
    tuning_until = m.clock.now() + n_frames * sc.plane_period_s * 0.3
    trial = 0
    t0 = time.perf_counter()
    for _ in range(n_frames):
        now = m.clock.now()
        if now >= next_event:
            if now < tuning_until:
                m.visual.show_grating(float(rng.choice(np.arange(0, 360, 45))), duration_s=1.0)
                next_event = now + 3.0
            else:
                k = trial % len(masks)
                m.slm.show(k)
                m.laser.set_power(requests[k])
                m.laser.pulse(10, 0.005, 10.0)
                trial += 1
                next_event = now + 4.0
        sc.next_frame()
    wall = time.perf_counter() - t0
    simulated = (sc.counter - start_frame) * sc.plane_period_s
    return {"frames": n_frames, "simulated_s": simulated, "wall_s": wall, "times_real_time": simulated / wall,
            "masks": len(masks), "stim_trials": trial,
            "protocol_frames": 65000, "projected_protocol_wall_s": wall / n_frames * 65000,
            "target_times_real_time": 12.0, "meets_target": simulated / wall >= 12.0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6500, help="frames of the dry-run figure (default 6500)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from sims.microscope import SimulatedMicroscope
    t = time.perf_counter()
    m = SimulatedMicroscope(seed=args.seed)
    build_s = time.perf_counter() - t
    out = {"build_s": build_s, "response": bench_response(m), "render": bench_render(m),
           "dry_run": bench_dry_run(m, args.frames)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
