"""The session file's layout: names, dtypes, flags. One source of truth for writer, reader and docs.

See docs/session-format.md for the full description. Every dataset exists from the moment the file is created
(resizable, chunked), because in HDF5 SWMR mode a writer may only append to datasets that already exist.
"""
from __future__ import annotations

import enum

import numpy as np

FORMAT_NAME = "holostim-session"
#: Major.minor; a reader accepts any minor version of its own major version.
FORMAT_VERSION = "1.0"

#: Stages of the seed-002 protocol, in order, plus the writer's own 'closed' marker.
STAGES = ("targets", "calibration", "ppsf", "power_test", "tuning", "ensembles", "holograms", "stimulation")
CLOSED_STAGE = "closed"

#: Trial blocks.
BLOCKS = ("power_test", "tuning", "stim", "ppsf", "calibration")
#: Trial conditions.
CONDITIONS = ("grating", "blank", "ensemble", "no_stim", "power", "offset")


class InvalidFlag(enum.IntFlag):
    """Why a trial is invalid (seed 002, "Exclusion criteria"), as bits of ``trials['invalid_flags']``."""

    RUNNING = 1            #: the animal ran faster than the protocol's limit (6 cm/s)
    MOTION = 2             #: the FOV shifted more than the limit (3 px)
    TARGETS = 4            #: fewer than the required fraction (50 %) of targets responded
    DROPPED_FRAMES = 8     #: frames were missing within the trial's windows
    ABORTED = 16           #: the trial was interrupted (pause, fault, operator)
    LASER_FAULT = 32       #: the laser did not deliver the commanded pulses

    @classmethod
    def names(cls, flags: int) -> list[str]:
        """Reason names, lower case, for a flag value."""
        return [f.name.lower() for f in cls if flags & f]


STAGE_DTYPE = np.dtype([("name", "S32"), ("t_s", "<f8"), ("utc", "S32")])

TRIAL_DTYPE = np.dtype([
    ("trial", "<i8"),            # sequential id; -1 marks a row whose write did not complete
    ("block", "S16"),
    ("condition", "S16"),
    ("ensemble", "<i4"),         # -1 when none
    ("hologram", "<i4"),         # -1 when none
    ("direction_deg", "<f4"),    # NaN when not a grating
    ("power_mw", "<f4"),         # per-target power of a power-test trial; NaN otherwise
    ("t_scheduled_s", "<f8"),
    ("t_start_s", "<f8"),
    ("t_end_s", "<f8"),
    ("frame_start", "<i8"),      # first volume of the trial (baseline included)
    ("frame_end", "<i8"),        # one past the last volume
    ("valid", "?"),
    ("invalid_flags", "<u4"),    # InvalidFlag bits
    ("max_running_cm_s", "<f4"),
    ("max_shift_px", "<f4"),
    ("responding_fraction", "<f4"),
])

#: Fill value of trial rows: a row still holding it was never completely written.
TRIAL_FILL = np.zeros((), TRIAL_DTYPE)
TRIAL_FILL["trial"] = -1

EVENT_DTYPE = np.dtype([
    ("t_s", "<f8"),
    ("frame", "<i8"),
    ("trial", "<i8"),
    ("kind", "S32"),
    ("value", "<f8"),
    ("detail", "S96"),
])

BEHAVIOUR_DTYPE = np.dtype([("t_s", "<f8"), ("frame", "<i8"), ("running_cm_s", "<f4")])

ENSEMBLE_DTYPE = np.dtype([
    ("ensemble", "<i4"),
    ("spatial", "S16"),
    ("tuning", "S16"),
    ("target_orientation_deg", "<f4"),
    ("orientation_deg", "<f4"),
    ("spread_um", "<f4"),
    ("ensemble_osi", "<f4"),
    ("mean_osi", "<f4"),
])

TARGET_DTYPE = np.dtype([("ensemble", "<i4"), ("cell", "<i8"), ("power_mw", "<f4")])

HOLOGRAM_DTYPE = np.dtype([
    ("hologram", "<i4"),
    ("ensemble", "<i4"),
    ("n_targets", "<i4"),
    ("laser_power_mw", "<f4"),
    ("efficiency", "<f4"),
    ("uniformity", "<f4"),
])

#: Frames per chunk of the trace datasets; a chunk of 64 frames × 128 cells of float32 is 32 KiB.
TRACE_CHUNK_FRAMES = 64
TRACE_CHUNK_CELLS = 128
