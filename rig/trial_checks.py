"""Trial validation by seed 002's exclusion criteria ("Exclusion criteria").

A trial is excluded if (1) the animal ran faster than 6 cm/s, (2) 50 % or more of the targeted cells failed to
respond (at least 0.25 z-scored fluorescence above baseline), or (3) registration shows the brain shifted more than
3 pixels (4.7 µm). With ``min_responding_fraction = 0.5`` a trial is valid only when more than half its targets
responded; the online pipeline applies the same rule (the protocol copies it into the online settings). Missing frames inside the trial's windows also invalidate it, since its response cannot be
measured.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from rig.session.format import InvalidFlag


@dataclass(frozen=True)
class TrialCheck:
    valid: bool
    invalid_flags: int
    max_running_cm_s: float
    max_shift_px: float
    responding_fraction: float

    @property
    def reasons(self) -> list[str]:
        return InvalidFlag.names(self.invalid_flags)

    def as_row(self) -> dict:
        """The trial-table columns this check fills."""
        return {"valid": self.valid, "invalid_flags": self.invalid_flags, "max_running_cm_s": self.max_running_cm_s,
                "max_shift_px": self.max_shift_px, "responding_fraction": self.responding_fraction}


def check_trial(exclusion, running_cm_s: np.ndarray, shift_px: np.ndarray,
                target_response_z: Optional[np.ndarray] = None, dropped_frames: int = 0) -> TrialCheck:
    """Apply the exclusion rules of ``exclusion`` (:class:`rig.config.ExclusionConfig`) to one trial.

    ``running_cm_s``: running speed samples during the trial, cm/s. ``shift_px``: (frames, 2) rigid shifts of the
    FOV relative to the reference in which the targets were found, pixels. ``target_response_z``: each targeted
    cell's response in z-scored fluorescence above its baseline (omit for trials without targets).
    """
    running = np.abs(np.asarray(running_cm_s, float))
    shifts = np.asarray(shift_px, float).reshape(-1, 2)
    max_running = float(np.nanmax(running)) if running.size else float("nan")
    norms = np.hypot(shifts[:, 0], shifts[:, 1])
    max_shift = float(np.nanmax(norms)) if norms.size and np.isfinite(norms).any() else float("nan")
    flags = InvalidFlag(0)
    if max_running > exclusion.max_running_cm_s:
        flags |= InvalidFlag.RUNNING
    if max_shift > exclusion.max_motion_px:
        flags |= InvalidFlag.MOTION
    responding = float("nan")
    if target_response_z is not None and len(target_response_z):
        z = np.asarray(target_response_z, float)
        responding = float(np.mean(z >= exclusion.response_z))
        if responding <= exclusion.min_responding_fraction:
            flags |= InvalidFlag.TARGETS
    if dropped_frames > 0:
        flags |= InvalidFlag.DROPPED_FRAMES
    return TrialCheck(flags == 0, int(flags), max_running, max_shift, responding)
