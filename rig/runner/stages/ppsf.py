"""Stage ``ppsf`` (optional, protocol ``ppsf: true``): the physiological point-spread function (seed 002,
"Holographic stimulation": "After the standard 'power test', randomly selected sets of ten cells distributed
throughout the FOV were driven as in a standard experiment. Holograms were digitally offset radially using 3 µm
steps (range: −3 to 30 µm from aligned) and axially in 6 µm steps (range: −6 to 60 µm). Resulting fluorescence
was fit with a Gaussian, aligned to the peak and the full-width half maximum (FWHM) was obtained.")

Ten stimmable cells spread over the FOV (farthest-point choice from a seeded start) get one hologram per offset,
each at its stimmable power × margin; trials (offset × repetitions) in seeded random order, driven like the
stimulation block. Per cell, the mean response against the offset is fitted with a Gaussian plus baseline; the
FWHM (2·√(2 ln 2)·σ) of the radial and axial profiles is written per cell (NaN where the fit fails).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import curve_fit

from ..errors import RunnerError
from ..power import apply_power, laser_shares, make_hologram, plan_power
from ..trial import TrialSpec, run_trial

RADIAL_UM = np.arange(-3.0, 30.1, 3.0)
AXIAL_UM = np.arange(-6.0, 60.1, 6.0)
N_CELLS = 10
REPETITIONS = 2
_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def choose_cells(ctx) -> np.ndarray:
    """Session rows of ten stimmable cells spread over the FOV (farthest-point sampling, seeded start)."""
    pool = np.flatnonzero(np.isfinite(ctx.stimmable_mw))
    if len(pool) < ctx.rig.slm.min_targets:
        raise RunnerError(f"the PPSF needs at least {ctx.rig.slm.min_targets} stimmable cells, found {len(pool)}")
    rng = np.random.default_rng(ctx.stage_seed("ppsf"))
    xyz = ctx.cells.position_um[pool]
    chosen = [int(rng.integers(len(pool)))]
    d = np.linalg.norm(xyz - xyz[chosen[0]], axis=1)
    while len(chosen) < min(N_CELLS, len(pool)):
        nxt = int(np.argmax(d))
        chosen.append(nxt)
        d = np.minimum(d, np.linalg.norm(xyz - xyz[nxt], axis=1))
    return np.sort(pool[chosen])


def offsets() -> np.ndarray:
    """(axis, offset µm) of every hologram: axis 0 radial (along x), 1 axial."""
    return np.array([(0, r) for r in RADIAL_UM] + [(1, z) for z in AXIAL_UM])


def schedule(ctx) -> np.ndarray:
    """Hologram index of each trial, seeded random order."""
    rng = np.random.default_rng(ctx.stage_seed("ppsf", 1))
    order = np.tile(np.arange(len(offsets())), REPETITIONS)
    return order[rng.permutation(len(order))]


def fwhm(offset_um: np.ndarray, response: np.ndarray) -> float:
    """FWHM of a Gaussian-plus-baseline fit to a response profile, µm (NaN when it does not fit)."""
    ok = np.isfinite(response)
    x, y = offset_um[ok], response[ok]
    if len(x) < 5 or np.ptp(y) <= 0:
        return float("nan")
    p0 = [float(y.max() - y.min()), float(x[np.argmax(y)]), float(np.ptp(x) / 6), float(y.min())]
    try:
        (a, _mu, sigma, _b), _ = curve_fit(lambda t, a, mu, s, b: a * np.exp(-(t - mu) ** 2 / (2 * s * s)) + b,
                                           x, y, p0=p0, maxfev=5000)
    except (RuntimeError, ValueError):
        return float("nan")
    width = abs(sigma) * _FWHM_PER_SIGMA
    return float(width) if a > 0 and width < 4 * np.ptp(x) else float("nan")


def run(ctx) -> None:
    st = ctx.protocol.stimulation
    margin = ctx.protocol.power_test.power_margin
    rows = choose_cells(ctx)
    requests = ctx.stimmable_mw[rows] * margin
    base = ctx.cells.position_um[rows]
    holos, shares = [], []
    for h, (axis, off) in enumerate(offsets()):
        shift = np.zeros(3)
        shift[0 if axis == 0 else 2] = off
        hol = make_hologram(ctx, base + shift, requests, seed=ctx.stage_seed("ppsf", 2, h), iterations=10)
        holos.append(hol)
        shares.append(laser_shares(plan_power(ctx, hol, requests).laser_power_mw, requests))
    ctx.slm.load(np.stack([h.phase for h in holos]), session_id="ppsf")
    plan = schedule(ctx)
    done_rows, done_resp = ctx.committed.block("ppsf")
    skip = len(done_rows)
    period = st.baseline_s + st.response_s + st.iti_s
    t0 = ctx.acq.now() + st.baseline_s + 1.0
    responses = list(done_resp)
    for i, h in enumerate(plan[skip:], start=skip):
        off = offsets()[h][1]

        def prepare(h=h):
            ctx.slm.show(int(h))
            apply_power(ctx, shares[h])

        def fire():
            ctx.hw.laser.pulse(st.pulses, st.pulse_ms / 1000.0, st.pulse_rate_hz)

        spec = TrialSpec(key=f"pp{i}", block="ppsf", condition="offset", kind="photostim",
                         t_scheduled_s=t0 + (i - skip) * period, response_s=st.response_s, prepare=prepare,
                         fire=fire, pipeline_targets=rows, event="ppsf_offset", event_value=float(off))
        out = run_trial(ctx, spec, prepare_lead_s=min(0.5, st.baseline_s))
        responses.append(out.response)
        ctx.progress.trial("ppsf", i + 1, len(plan), 0, 0, (len(plan) - i - 1) * period)
    finish(ctx, rows, plan, np.asarray(responses, float).reshape(len(plan), -1))


def finish(ctx, rows: np.ndarray, plan: np.ndarray, responses: np.ndarray) -> None:
    """Radial and axial FWHM per measured cell; write stage 'ppsf'."""
    table = offsets()
    out = np.full((len(rows), 2), np.nan)
    for axis in (0, 1):
        holos = np.flatnonzero(table[:, 0] == axis)
        x = table[holos, 1]
        prof = np.array([[np.nanmean(responses[plan == h][:, r]) if np.any(plan == h) else np.nan
                          for h in holos] for r in rows])
        out[:, axis] = [fwhm(x, p) for p in prof]
    ctx.writer.write_ppsf(out, t_s=ctx.acq.now())
    ctx.progress.message(f"[ppsf] FWHM radial {np.nanmedian(out[:, 0]):.1f} µm, axial {np.nanmedian(out[:, 1]):.1f} µm "
                         f"(median of {np.isfinite(out).all(axis=1).sum()} cells)")
