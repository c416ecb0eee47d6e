"""Stimulation power and holograms for a set of target cells: the runner's side of :mod:`holography`.

Every power request passes :class:`rig.safety.LaserGuard` before it reaches the laser (:func:`apply_power`), and
the laser driver checks again. The laser driver takes per-target powers and emits their sum; a hologram loses
light to its efficiency, so the laser power P that gives every target its request (``required_laser_power``) is
split over the targets in proportion to their requests (``P · r_k / Σr``). Each share is at least the power the
target really receives, so the guard's per-target check is conservative.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Sequence

import numpy as np

import holography

from .errors import RunnerError


def laser_shares(laser_power_mw: float, requests_mw) -> np.ndarray:
    """Split the laser power over the targets in proportion to their requests, mW."""
    req = np.asarray(requests_mw, np.float64)
    return float(laser_power_mw) * req / req.sum()


def apply_power(ctx, shares_mw) -> float:
    """Check ``shares_mw`` with the session's guard, then set them on the laser; returns the total, mW."""
    checked = ctx.guard.check(shares_mw)
    return ctx.hw.laser.set_power(checked)


def limits(rig) -> holography.PowerLimits:
    return holography.PowerLimits.from_rig_laser(rig.laser)


def make_hologram(ctx, imaging_xyz_um, requests_mw, seed: int, iterations: int = 30) -> holography.Hologram:
    """Phase mask putting each target (imaging µm, through the calibration) at its requested power."""
    slm_xyz = ctx.calibration.apply(np.asarray(imaging_xyz_um, np.float64).reshape(-1, 3))
    try:
        return holography.hologram_for_powers(slm_xyz, requests_mw, ctx.geometry, iterations=iterations,
                                              seed=int(seed), min_targets=ctx.rig.slm.min_targets)
    except holography.HologramError as err:
        raise RunnerError(f"cannot make a hologram for targets {np.round(imaging_xyz_um, 1).tolist()}: {err}") from None


#: Masks computed at once. The imaging stream is idle while a stage computes its masks, so both cores of a small
#: machine are free; the engine's work is numpy array operations, which run without the interpreter lock.
HOLOGRAM_WORKERS = max(1, min(2, os.cpu_count() or 1))


def make_holograms(ctx, jobs: Sequence[tuple], iterations: int) -> Iterator[holography.Hologram]:
    """:func:`make_hologram` for each ``(imaging_xyz_um, requests_mw, seed)`` of ``jobs``, in order.

    Up to :data:`HOLOGRAM_WORKERS` masks are computed at the same time; each depends only on its own targets and
    seed, so the masks are the same as one at a time. Consume them as they come (a stage writes each to the
    session file before the next is needed)."""
    if HOLOGRAM_WORKERS == 1 or len(jobs) < 2:
        for xyz, requests, seed in jobs:
            yield make_hologram(ctx, xyz, requests, seed=seed, iterations=iterations)
        return
    with ThreadPoolExecutor(max_workers=HOLOGRAM_WORKERS, thread_name_prefix="hologram") as pool:
        futures = [pool.submit(make_hologram, ctx, xyz, requests, seed, iterations) for xyz, requests, seed in jobs]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:     # an error or a stop: do not compute masks nobody will use
                future.cancel()


def plan_power(ctx, hologram, requests_mw) -> holography.LaserPowerPlan:
    """Laser power for ``hologram`` to deliver ``requests_mw``; refused (RunnerError) above the rig's limits."""
    try:
        return holography.required_laser_power(hologram, requests_mw, ctx.geometry, limits(ctx.rig))
    except holography.HologramError as err:
        raise RunnerError(f"{err}") from None
