"""Stage ``power_test``: each candidate cell's stimmable power (seed 002, "Holographic stimulation": groups of five
cells, five 5 ms pulses, 12.5–100 mW per cell).

Candidates are the brightest red nuclei (most opsin), at most :func:`max_cells` of them, because a power test of
every nucleus would take hours (8 powers × 3 repetitions × 1.2 s per group). Groups and the randomized trial order
come from :func:`rig.schedule.power_test_schedule` (seeded). One hologram per group (equal power per cell; the
laser power scales with the tested power). Analysis: each trial's per-cell responses, z-scored by the cells'
noise, into :func:`online.power_test` — the lowest power with a significant response that higher powers confirm.
"""
from __future__ import annotations

import numpy as np

from online import power_test as analyse_power_test, zscore
from rig.safety import PowerLimitError
from rig.schedule import power_test_schedule

from ..power import apply_power, laser_shares, make_holograms, plan_power
from ..trial import InvalidFlag, TrialSpec, run_trial

#: Candidate cells per ensemble slot of the protocol (cells × ensembles), and the floor, when the protocol does
#: not set ``power_test.max_cells``: enough stimmable cells for the optimizer to choose from.
CANDIDATES_PER_SLOT = 1.0
MIN_CANDIDATES = 40
#: Response window of a power-test trial, s (GCaMP6s peaks ≈ 0.5 s after a short burst).
RESPONSE_S = 1.0


def max_cells(protocol) -> int:
    """How many cells the power test covers."""
    explicit = getattr(protocol.power_test, "max_cells", None)
    if explicit:
        return int(explicit)
    slots = sum(g.count * g.cells for g in protocol.optimizer.ensembles)
    return max(MIN_CANDIDATES, int(round(CANDIDATES_PER_SLOT * slots)))


def candidates(ctx) -> np.ndarray:
    """Session rows of the cells to test: brightest red nuclei first, ties by row (deterministic)."""
    order = np.lexsort((np.arange(len(ctx.cells)), -ctx.cells.red))
    return np.sort(order[:max_cells(ctx.protocol)])


def schedule(ctx):
    pt = ctx.protocol.power_test
    rows = candidates(ctx)
    return power_test_schedule(ctx.cells.ids[rows], pt.powers_mw, pt.cells_per_group, pt.repetitions, ctx.seed,
                               ctx.rig.slm.min_targets)


def refusal(ctx, shares) -> str:
    """Why the guard refuses ``shares`` ('' when it accepts them): such a trial runs without light and is marked
    LASER_FAULT, so the schedule (and a resume) stays aligned."""
    try:
        ctx.guard.check(shares)
    except PowerLimitError as err:
        return str(err)
    return ""


def period_s(protocol) -> float:
    pt = protocol.power_test
    return max(pt.pulses / pt.pulse_rate_hz + pt.iti_s, RESPONSE_S + 0.1)


def run(ctx) -> None:
    pt = ctx.protocol.power_test
    plan = schedule(ctx)
    groups = list(dict.fromkeys(t.cells for t in plan))
    group_index = {g: i for i, g in enumerate(groups)}
    holos = list(make_holograms(ctx, [(ctx.cells.position_um[ctx.cells.rows_of(g)], np.ones(len(g)),
                                       ctx.stage_seed("power_test", i)) for i, g in enumerate(groups)], iterations=10))
    ctx.slm.load(np.stack([h.phase for h in holos]), session_id="power_test")
    done_rows, done_resp = ctx.committed.block("power_test")
    skip = len(done_rows)
    period = period_s(ctx.protocol)
    t0 = ctx.acq.now() + 1.0
    valid = int(done_rows["valid"].sum()) if skip else 0
    responses = [r for r in done_resp]
    flags = list(done_rows["valid"]) if skip else []
    for i, trial in enumerate(plan[skip:], start=skip):
        g = group_index[trial.cells]
        requests = np.full(len(trial.cells), trial.power_mw)
        power = plan_power(ctx, holos[g], requests)
        shares = laser_shares(power.laser_power_mw, requests)
        rows = ctx.cells.rows_of(trial.cells)
        refused = refusal(ctx, shares)
        if refused:
            ctx.writer.append_event("power_refused", ctx.acq.now(), trial=ctx.writer.n_trials,
                                    value=float(trial.power_mw), detail=refused[:96])

        def prepare(g=g, shares=shares, refused=refused):
            ctx.slm.show(g)
            if not refused:
                apply_power(ctx, shares)

        def fire(refused=refused):
            if not refused:
                ctx.hw.laser.pulse(pt.pulses, pt.pulse_ms / 1000.0, pt.pulse_rate_hz)

        spec = TrialSpec(key=f"pt{i}", block="power_test", condition="power", kind="photostim",
                         t_scheduled_s=t0 + (i - skip) * period, response_s=RESPONSE_S, prepare=prepare, fire=fire,
                         pipeline_targets=rows, power_mw=float(trial.power_mw), event="photostim",
                         event_value=float(power.laser_power_mw),
                         extra_flags=int(InvalidFlag.LASER_FAULT) if refused else 0)
        out = run_trial(ctx, spec, prepare_lead_s=min(0.1, period / 4))
        responses.append(out.response)
        flags.append(out.valid)
        valid += int(out.valid)
        ctx.progress.trial("power test", i + 1, len(plan), valid, i + 1, (len(plan) - i - 1) * period)
    finish(ctx, plan, np.asarray(responses, float).reshape(len(plan), -1), np.asarray(flags, bool))


def finish(ctx, plan, responses: np.ndarray, valid: np.ndarray) -> None:
    """Stimmable power per cell from the valid trials; write stage 'power_test'."""
    pt, cfg = ctx.protocol.power_test, ctx.protocol.online
    n = len(ctx.cells)
    z = zscore(responses[valid], ctx.acq.noise_sd())
    targets = [ctx.cells.rows_of(t.cells) for t, ok in zip(plan, valid) if ok]
    powers = [t.power_mw for t, ok in zip(plan, valid) if ok]
    if len(z):
        result = analyse_power_test(z, targets, powers, threshold=cfg.response_z_threshold,
                                    alpha=cfg.power_test_alpha, tested_powers_mw=pt.powers_mw)
        mean_z, stimmable = result.mean_z, result.stimmable_power_mw
    else:
        mean_z, stimmable = np.full((n, len(pt.powers_mw)), np.nan), np.full(n, np.nan)
    ctx.writer.write_power_test(pt.powers_mw, mean_z, stimmable, t_s=ctx.acq.now())
    # later stages use exactly what the file holds (float32), so a resumed session designs the same ensembles
    ctx.stimmable_mw = np.asarray(stimmable, np.float32).astype(float)
    tested = len(candidates(ctx))
    ctx.progress.message(f"[power test] {np.isfinite(stimmable).sum()} of {tested} tested cells stimmable "
                         f"(median {np.nanmedian(stimmable) if np.isfinite(stimmable).any() else float('nan'):.1f} mW)")
