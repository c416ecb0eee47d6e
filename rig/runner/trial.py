"""One trial, the same way in every block: prepare → wait for the scheduled onset → fire → acquire the response
window → validate (seed 002 exclusion criteria) → commit to the session file.

Timing: each trial has an intended onset ``t_scheduled_s`` on a fixed grid (block start + i × period); the actual
onset ``t_start_s`` is logged beside it. Preparation (SLM switch, laser power set through the guard) happens
``prepare_lead_s`` before the onset so the liquid crystal has settled. A trial is committed only after its response
window has been acquired: a crash loses at most the trial in progress.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from rig.session.format import InvalidFlag
from rig.trial_checks import check_trial


@dataclass
class TrialSpec:
    """What one trial does. ``fire`` runs at the onset; ``prepare`` ``prepare_lead_s`` before it."""

    key: str                       # unique key for the online pipelines
    block: str                     # session-file block
    condition: str                 # session-file condition
    kind: str                      # online pipeline kind: grating, blank, photostim
    t_scheduled_s: float           # intended onset, session s
    response_s: float              # response window after the onset, s
    fire: Callable[[], None] = lambda: None
    prepare: Callable[[], None] = lambda: None
    target_rows: Optional[Sequence[int]] = None     # targeted cells (session rows) for the response rule
    pipeline_targets: Optional[Sequence[int]] = None  # cells the online analysis treats as targets
    ensemble: int = -1
    hologram: int = -1
    direction_deg: float = float("nan")
    power_mw: float = float("nan")
    event: str = ""                # event kind logged at the onset ('' = none)
    event_value: float = float("nan")
    row_extra: dict = field(default_factory=dict)
    extra_flags: int = 0           # InvalidFlag bits known before the trial (e.g. LASER_FAULT: power refused)


@dataclass(frozen=True)
class TrialOutcome:
    trial_id: int
    valid: bool
    response: np.ndarray
    target_z: Optional[np.ndarray]


def run_trial(ctx, spec: TrialSpec, prepare_lead_s: float = 0.5) -> TrialOutcome:
    """Run and commit one trial (see module docstring)."""
    acq, writer = ctx.acq, ctx.writer
    try:
        acq.wait_until(spec.t_scheduled_s - prepare_lead_s)
        spec.prepare()
        t_start = acq.wait_until(spec.t_scheduled_s)
        onset = acq.last_volume + 1
        spec.fire()
        trial_id = writer.n_trials
        if spec.event:
            writer.append_event(spec.event, t_start, frame=onset, trial=trial_id, value=spec.event_value,
                                detail=f"{spec.condition} e{spec.ensemble}" if spec.ensemble >= 0 else spec.condition)
        n_resp = ctx.volumes(spec.response_s)
        baseline = int(acq.config.trial_baseline_frames) if acq.attached else 0
        acq.add_trial(spec.key, spec.kind, onset, onset + n_resp, target_rows=spec.pipeline_targets,
                      direction_deg=None if not np.isfinite(spec.direction_deg) else float(spec.direction_deg),
                      ensemble=None if spec.ensemble < 0 else str(spec.ensemble),
                      power_mw=None if not np.isfinite(spec.power_mw) else float(spec.power_mw))
        t_base0 = t_start - baseline / ctx.volume_rate_hz
        measure = acq.collect(spec.key, t_base0, t_start + spec.response_s)
    finally:
        ctx.hw.laser.off()          # no power is left set between trials, whatever happened
    t_end = acq.now()
    if ctx.hw.visual is not None and spec.kind == "grating":
        ctx.hw.visual.blank()
    target_z = None
    if spec.target_rows is not None and len(spec.target_rows):
        rows = np.asarray(spec.target_rows, int)
        sd = acq.noise_sd()[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            target_z = np.where(sd > 0, measure.response[rows] / sd, np.nan)
        target_z = np.nan_to_num(target_z, nan=-np.inf)
    dropped = max(baseline - measure.baseline_frames, 0) + max(n_resp - measure.response_frames, 0)
    check = check_trial(ctx.protocol.exclusion, measure.running_cm_s,
                        np.array([[measure.max_shift_px, 0.0]]), target_z, dropped_frames=dropped)
    flags = check.invalid_flags | int(spec.extra_flags)
    row = dict(block=spec.block, condition=spec.condition, ensemble=spec.ensemble, hologram=spec.hologram,
               direction_deg=spec.direction_deg, power_mw=spec.power_mw, t_scheduled_s=spec.t_scheduled_s,
               t_start_s=t_start, t_end_s=t_end, frame_start=onset - baseline, frame_end=onset + n_resp,
               **check.as_row(), **spec.row_extra)
    row.update(valid=flags == 0, invalid_flags=flags)
    committed = writer.append_trial(row, measure.response)
    assert committed == trial_id
    return TrialOutcome(trial_id, flags == 0, measure.response, target_z)


def block_flags(rows: np.ndarray) -> tuple[int, int]:
    """(valid, total) of committed trial rows."""
    return int(rows["valid"].sum()) if len(rows) else 0, len(rows)


__all__ = ["InvalidFlag", "TrialOutcome", "TrialSpec", "block_flags", "run_trial"]
