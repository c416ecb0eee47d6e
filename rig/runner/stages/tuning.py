"""Stage ``tuning``: drifting gratings (seed 002, "Calcium imaging": 8 directions, 1 s, interleaved with a grey
screen) and online tuning (seed 002, "Online analysis": PO, OSI; responsive by one-way ANOVA, P < 0.05).

Trial order from :func:`rig.schedule.tuning_schedule` (seeded). Each trial's response is the mean ΔF/F in the
response window (``tuning.response_window_s`` from grating onset: the grating and the indicator's rise after it)
minus the second before the onset; tuning curves, PO, OSI, gOSI and ANOVA come from
:func:`online.tuning_from_responses` over the valid trials.
"""
from __future__ import annotations

import numpy as np

from online import tuning_from_responses
from rig.schedule import tuning_schedule

from ..trial import TrialSpec, run_trial


def schedule(ctx):
    tu = ctx.protocol.tuning
    return tuning_schedule(tu.directions_deg, tu.blank, tu.repetitions, ctx.seed)


def run(ctx) -> None:
    tu = ctx.protocol.tuning
    plan = schedule(ctx)
    done_rows, done_resp = ctx.committed.block("tuning")
    skip = len(done_rows)
    period = tu.stimulus_s + tu.iti_s
    t0 = ctx.acq.now() + 1.0
    responses, flags = list(done_resp), list(done_rows["valid"]) if skip else []
    valid = int(np.sum(flags))
    for i, trial in enumerate(plan[skip:], start=skip):
        grating = trial.condition == "grating"

        def fire(direction=trial.direction_deg, grating=grating):
            if grating:
                ctx.hw.visual.show_grating(float(direction), tu.spatial_frequency_cpd, tu.temporal_frequency_hz,
                                           tu.contrast, tu.stimulus_s)
            else:
                ctx.hw.visual.blank()

        spec = TrialSpec(key=f"tu{i}", block="tuning", condition=trial.condition,
                         kind="grating" if grating else "blank", t_scheduled_s=t0 + (i - skip) * period,
                         response_s=tu.response_window_s, fire=fire, direction_deg=float(trial.direction_deg),
                         event="stimulus_on", event_value=float(trial.direction_deg))
        out = run_trial(ctx, spec)
        responses.append(out.response)
        flags.append(out.valid)
        valid += int(out.valid)
        ctx.progress.trial("tuning", i + 1, len(plan), valid, i + 1, (len(plan) - i - 1) * period)
    finish(ctx, plan, np.asarray(responses, float).reshape(len(plan), -1), np.asarray(flags, bool))


def finish(ctx, plan, responses: np.ndarray, valid: np.ndarray) -> None:
    """Tuning from the valid trials; write stage 'tuning'."""
    tu, cfg = ctx.protocol.tuning, ctx.protocol.online
    dirs = np.array([t.direction_deg for t in plan], float)
    result = tuning_from_responses(responses[valid], dirs[valid], conditions_deg=np.asarray(tu.directions_deg, float),
                                   alpha=cfg.anova_alpha, po_method=cfg.po_method,
                                   tuned_osi_threshold=cfg.tuned_osi_threshold)
    ctx.writer.write_tuning(directions_deg=tu.directions_deg, mean=result.mean, sem=result.sem, po_deg=result.po_deg,
                            osi=result.osi, gosi=result.gosi, responsive=result.responsive, p_anova=result.p_anova,
                            blank_mean=result.blank_mean, t_s=ctx.acq.now())
    # later stages use exactly what the file holds (float32), so a resumed session designs the same ensembles
    f32 = lambda a: np.asarray(a, np.float32).astype(float)  # noqa: E731
    ctx.tuning = TuningView(f32(result.mean), result.responsive, f32(result.osi), result.tuned)
    ctx.progress.message(f"[tuning] {int(result.responsive.sum())} of {len(result.responsive)} cells visually "
                         f"responsive, {int(result.tuned.sum())} tuned (OSI > {cfg.tuned_osi_threshold:g})")


class TuningView:
    """What later stages need from the tuning: curves (cells × directions), responsive, OSI, tuned."""

    def __init__(self, mean, responsive, osi, tuned):
        self.mean = np.asarray(mean, float)
        self.responsive = np.asarray(responsive, bool)
        self.osi = np.asarray(osi, float)
        self.tuned = np.asarray(tuned, bool)
