"""Seeded trace extraction: neuropil-subtracted fluorescence, running F0 and ΔF/F, one frame at a time.

Seed 002 (Methods, "Offline analysis"): F = F_cell − c·F_neuropil; F0 is the 10th percentile of a 1,000-frame
window; ΔF/F = (F − F0)/F0. ``c`` is fixed (default 0.7) or, with ``neuropil_coefficient='auto'``, estimated
per cell as the least-squares slope of F_cell on F_neuropil over the first ``neuropil_auto_frames`` frames
(clipped to [0, ``neuropil_auto_max``]); until then 0.7 is used, and when the estimate lands the F0 window is
recomputed with it so that F and F0 stay consistent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .baseline import RunningPercentile
from .footprints import Footprints

#: Fixed coefficient used before a per-cell estimate exists (Chen et al. 2013; suite2p's default).
DEFAULT_NEUROPIL_COEFFICIENT = 0.7


@dataclass(frozen=True)
class Traces:
    """One frame's values per cell (float32): raw cell, neuropil, subtracted F, baseline F0 and ΔF/F."""

    f_cell: np.ndarray
    f_neuropil: np.ndarray
    f: np.ndarray
    f0: np.ndarray
    dff: np.ndarray


class NeuropilEstimator:
    """Running least-squares slope of F_cell on F_neuropil per cell (float64 sums)."""

    def __init__(self, n_cells: int, n_frames: int, max_coefficient: float):
        self.n_frames, self.max_coefficient = int(n_frames), float(max_coefficient)
        self._sums = np.zeros((5, n_cells))  # n, Σx, Σy, Σxy, Σx²
        self.history_cell: list[np.ndarray] = []
        self.history_neuropil: list[np.ndarray] = []

    @property
    def done(self) -> bool:
        return len(self.history_cell) >= self.n_frames

    def add(self, f_cell: np.ndarray, f_neuropil: np.ndarray) -> None:
        x, y = f_neuropil.astype(np.float64), f_cell.astype(np.float64)
        self._sums += np.stack([np.ones_like(x), x, y, x * y, x * x])
        self.history_cell.append(f_cell.copy())
        self.history_neuropil.append(f_neuropil.copy())

    def coefficient(self) -> np.ndarray:
        n, sx, sy, sxy, sxx = self._sums
        var = sxx - sx * sx / np.maximum(n, 1)
        cov = sxy - sx * sy / np.maximum(n, 1)
        slope = np.where(var > 1e-12 * np.maximum(sxx, 1e-30), cov / np.where(var > 0, var, 1), DEFAULT_NEUROPIL_COEFFICIENT)
        return np.clip(slope, 0.0, self.max_coefficient).astype(np.float32)


class TraceExtractor:
    """Footprints × frame → F_cell, F_neuropil → F → F0 (running percentile) → ΔF/F."""

    def __init__(self, footprints: Footprints, config):
        self.footprints = footprints
        n = footprints.n_cells
        self.min_baseline = np.float32(config.min_baseline)
        self.baseline = RunningPercentile(n, config.baseline_window_frames, config.baseline_percentile)
        if config.neuropil_coefficient == "auto":
            self.coefficient = np.full(n, DEFAULT_NEUROPIL_COEFFICIENT, np.float32)
            self._estimator = NeuropilEstimator(n, config.neuropil_auto_frames, config.neuropil_auto_max)
        else:
            self.coefficient = np.full(n, float(config.neuropil_coefficient), np.float32)
            self._estimator = None

    @property
    def coefficient_estimated(self) -> bool:
        """False while an 'auto' coefficient is still being estimated."""
        return self._estimator is None

    def step(self, registered: np.ndarray) -> Traces:
        """Extract one registered float32 frame and update F0."""
        f_cell, f_np = self.footprints.extract(registered)
        if self._estimator is not None:
            self._estimator.add(f_cell, f_np)
            if self._estimator.done:
                self._adopt_estimate()
        f = f_cell - self.coefficient * f_np
        f0 = self.baseline.push(f).copy()
        dff = (f - f0) / np.maximum(f0, self.min_baseline)
        return Traces(f_cell, f_np, f, f0, dff)

    def _adopt_estimate(self) -> None:
        est = self._estimator
        self.coefficient = est.coefficient()
        # The F0 window holds F computed with the old coefficient: recompute it from the raw values of all
        # frames but the current one, which step() pushes next.
        n = self.footprints.n_cells
        cell = np.array(est.history_cell[:-1], np.float32).reshape(-1, n).T
        neuropil = np.array(est.history_neuropil[:-1], np.float32).reshape(-1, n).T
        self.baseline.reset(cell - self.coefficient[:, None] * neuropil)
        self._estimator = None
