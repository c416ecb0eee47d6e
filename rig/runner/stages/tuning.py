"""Stage ``tuning``: drifting gratings (seed 002, "Calcium imaging": 8 directions, 1 s, interleaved with a grey
screen) and online tuning (seed 002, "Online analysis": PO, OSI; responsive by one-way ANOVA, P < 0.05).

Trial order from :func:`rig.schedule.tuning_schedule` (seeded); trials excluded for running, motion or dropped
frames are retaken after the block (:func:`rig.schedule.tuning_retakes`, up to ``tuning.retake_fraction`` of the
block) so that every condition keeps its repetitions. Each trial's response comes from the online pipeline (by
default the matched-filter amplitude of the expected grating response on the deconvolved ΔF/F,
:mod:`online.indicator`); tuning curves, PO, OSI, gOSI and ANOVA come from :func:`online.tuning_from_responses`
over the valid trials.
"""
from __future__ import annotations

import numpy as np

from online import tuning_from_responses
from rig.schedule import tuning_retakes, tuning_schedule

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
    retakes_left = int(round(tu.retake_fraction * len(plan)))
    trials, responses, flags = [], list(done_resp), list(done_rows["valid"]) if skip else []
    pending = plan
    while pending:
        for j, trial in enumerate(pending):
            i = len(trials)
            trials.append(trial)
            if i < skip:                 # committed before a resume
                continue
            out = _run_one(ctx, tu, trial, f"tu{i}", t0 + (i - skip) * period)
            responses.append(out.response)
            flags.append(out.valid)
            n_left = len(pending) - j - 1
            ctx.progress.trial("tuning", i + 1, i + 1 + n_left, int(np.sum(flags)), i + 1, n_left * period)
        pending = tuning_retakes(trials, flags[:len(trials)], tu.repetitions, ctx.seed, retakes_left)
        retakes_left -= len(pending)
        if pending and len(trials) >= skip:
            ctx.progress.message(f"[tuning] retaking {len(pending)} excluded trials")
    finish(ctx, trials, np.asarray(responses, float).reshape(len(trials), -1), np.asarray(flags, bool))


def _run_one(ctx, tu, trial, key: str, t_scheduled_s: float):
    grating = trial.condition == "grating"

    def fire(direction=trial.direction_deg, grating=grating):
        if grating:
            ctx.hw.visual.show_grating(float(direction), tu.spatial_frequency_cpd, tu.temporal_frequency_hz,
                                       tu.contrast, tu.stimulus_s)
        else:
            ctx.hw.visual.blank()

    spec = TrialSpec(key=key, block="tuning", condition=trial.condition, kind="grating" if grating else "blank",
                     t_scheduled_s=t_scheduled_s, response_s=tu.response_window_s, fire=fire,
                     direction_deg=float(trial.direction_deg), event="stimulus_on",
                     event_value=float(trial.direction_deg))
    return run_trial(ctx, spec)


def finish(ctx, plan, responses: np.ndarray, valid: np.ndarray) -> None:
    """Tuning from the valid trials (schedule and retakes); write stage 'tuning'."""
    tu, cfg = ctx.protocol.tuning, ctx.protocol.online
    dirs = np.array([t.direction_deg for t in plan], float)
    result = tuning_from_responses(responses[valid], dirs[valid], conditions_deg=np.asarray(tu.directions_deg, float),
                                   alpha=cfg.anova_alpha, po_method=cfg.po_method,
                                   tuned_osi_threshold=cfg.tuned_osi_threshold, subtract_blank=cfg.blank_reference)
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
