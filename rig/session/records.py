"""Typed objects the session reader returns. Arrays are numpy; times in s, positions in µm, powers in mW."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .format import InvalidFlag


@dataclass(frozen=True)
class SessionInfo:
    """What ``holostim session info`` reports."""

    path: str
    format_version: str
    created_utc: str
    seed: int
    software: dict[str, str]
    rig_name: str
    backend: str
    protocol_name: str
    stages: list[str]
    closed_cleanly: bool
    n_cells: int
    n_ensembles: int
    n_holograms: int
    n_trials: int
    n_trials_valid: int
    trials_by_block: dict[str, int]
    valid_by_block: dict[str, int]
    n_frames: list[int]
    n_events: int

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class Cells:
    """Target cells: ids, positions (n × 3, x y z µm), plane index, pixel centroid (row, col), mRuby brightness."""

    id: np.ndarray
    position_um: np.ndarray
    plane: np.ndarray
    pixel_rc: np.ndarray
    red: np.ndarray
    mask_start: np.ndarray
    mask_count: np.ndarray
    mask_pixels: np.ndarray
    mask_weights: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    def mask(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Flat pixel indices (into the cell's plane) and weights of cell row ``i``."""
        start, count = int(self.mask_start[i]), int(self.mask_count[i])
        if start < 0:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        return self.mask_pixels[start:start + count], self.mask_weights[start:start + count]

    def dense_mask(self, i: int, shape: tuple[int, int]) -> np.ndarray:
        """Cell row ``i``'s footprint as a (rows, cols) float32 image."""
        image = np.zeros(shape[0] * shape[1], np.float32)
        pixels, weights = self.mask(i)
        image[pixels] = weights
        return image.reshape(shape)


@dataclass(frozen=True)
class PowerTest:
    powers_mw: np.ndarray           #: tested powers, mW
    response: np.ndarray            #: cells × powers, evoked response
    stimmable_power_mw: np.ndarray  #: per cell; NaN where no power evoked a response


@dataclass(frozen=True)
class Tuning:
    directions_deg: np.ndarray
    mean: np.ndarray                #: cells × directions, ΔF/F
    sem: np.ndarray
    blank_mean: np.ndarray
    po_deg: np.ndarray
    osi: np.ndarray
    gosi: np.ndarray
    responsive: np.ndarray
    p_anova: np.ndarray


@dataclass(frozen=True)
class Ensemble:
    index: int
    cells: np.ndarray               #: target cell ids
    power_mw: np.ndarray            #: per-target requested power, mW
    spatial: str
    tuning: str
    target_orientation_deg: float
    orientation_deg: float
    spread_um: float
    ensemble_osi: float
    mean_osi: float


@dataclass(frozen=True)
class HologramRecord:
    index: int
    ensemble: int
    n_targets: int
    laser_power_mw: float
    efficiency: float
    uniformity: float


@dataclass(frozen=True)
class TrialTable:
    """Committed trials, one row each (columns of :data:`rig.session.format.TRIAL_DTYPE`)."""

    rows: np.ndarray
    response: np.ndarray            #: trials × cells, per-trial response (NaN where not computed)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, column: str) -> np.ndarray:
        values = self.rows[column]
        return np.char.decode(values, "utf-8") if values.dtype.kind == "S" else values

    @property
    def valid(self) -> np.ndarray:
        return self.rows["valid"]

    def reasons(self, i: int) -> list[str]:
        """Why trial row ``i`` is invalid (empty when valid)."""
        return InvalidFlag.names(int(self.rows["invalid_flags"][i]))

    def to_dataframe(self):
        """The table as a pandas DataFrame, with a ``reasons`` column."""
        import pandas as pd

        df = pd.DataFrame({name: self[name] for name in self.rows.dtype.names})
        df["reasons"] = [";".join(self.reasons(i)) for i in range(len(self))]
        return df


@dataclass(frozen=True)
class PlaneTraces:
    """Extracted fluorescence of one imaging plane: frames × cells."""

    plane: int
    cells: np.ndarray
    F: np.ndarray
    neuropil: np.ndarray
    frame: np.ndarray
    t_s: np.ndarray
    shift_px: np.ndarray


@dataclass(frozen=True)
class Events:
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, column: str) -> np.ndarray:
        values = self.rows[column]
        return np.char.decode(values, "utf-8") if values.dtype.kind == "S" else values


@dataclass(frozen=True)
class Calibration:
    model: dict[str, Any]
    residual_um: np.ndarray


@dataclass(frozen=True)
class Behaviour:
    t_s: np.ndarray
    frame: np.ndarray
    running_cm_s: np.ndarray
