"""Running percentile of many series at once, updated one sample per series per frame.

F0 in seed 002 (Methods, "Offline analysis") is the 10th percentile of a 1,000-frame window. Recomputing it with
``np.percentile`` each frame costs O(cells · window · log window); here each series keeps its current order
statistic ``v`` and the counts of window values below (``lt``) and at-or-below (``le``) it. A new sample and the
sample leaving the window change those counts by at most one, so ``v`` needs at most one step to the next
smaller or larger value in its window, and only the few series whose counts left ``lt ≤ k < le`` do that
O(window) step. The answer is exact: the ``k``-th smallest value with ``k = floor(p/100 · (n − 1))``
(numpy's ``method="lower"``), where ``n`` is the number of samples in the window.
"""
from __future__ import annotations

import numpy as np

from .errors import OnlineError

#: Pushes a masked-out value far below any fluorescence; finite, so adding a real value cannot overflow.
_HUGE_NEG = np.float32(-3e38)


class RunningPercentile:
    """Exact running ``percentile`` of ``n_series`` series over their last ``window`` samples (float32)."""

    def __init__(self, n_series: int, window: int, percentile: float):
        if window < 1 or not 0 <= percentile <= 100:
            raise OnlineError(f"running percentile needs window ≥ 1 and 0 ≤ percentile ≤ 100, got "
                              f"{window}, {percentile}")
        self.n_series, self.window, self.percentile = int(n_series), int(window), float(percentile)
        self._buf = np.zeros((self.n_series, self.window), np.float32)
        self._pos = 0
        self.count = 0
        self._v = np.zeros(self.n_series, np.float32)
        self._lt = np.zeros(self.n_series, np.int64)
        self._le = np.zeros(self.n_series, np.int64)

    @property
    def value(self) -> np.ndarray:
        """The current percentile of each series (NaN before the first sample)."""
        return self._v.copy() if self.count else np.full(self.n_series, np.nan, np.float32)

    def _rank(self) -> int:
        return int(np.floor(self.percentile / 100.0 * (self.count - 1)))

    def push(self, values: np.ndarray) -> np.ndarray:
        """Add one finite sample per series; returns the updated percentile (a view: copy to keep it)."""
        x = np.asarray(values, np.float32)
        v = self._v
        if self.count == self.window:
            old = self._buf[:, self._pos]
            self._lt -= old < v
            self._le -= old <= v
        self._buf[:, self._pos] = x
        self._pos = (self._pos + 1) % self.window
        self.count = min(self.count + 1, self.window)
        if self.count == 1:
            v[:] = x
            self._lt[:] = 0
            self._le[:] = 1
            return v
        self._lt += x < v
        self._le += x <= v
        k = self._rank()
        self._step(np.flatnonzero(self._lt > k), down=True)
        self._step(np.flatnonzero(self._le <= k), down=False)
        return v

    def _step(self, rows: np.ndarray, down: bool) -> None:
        """Move ``v`` of ``rows`` to the next smaller (``down``) or larger value in their windows."""
        if rows.size == 0:
            return
        win = self._buf[rows, : self.count]
        cur = self._v[rows, None]
        # Counts below/at the old value are known, so only ties at the new value need counting.
        # A large-penalty add instead of np.where: the masked select is 3× slower than SIMD arithmetic.
        if down:
            new = ((win >= cur) * _HUGE_NEG + win).max(axis=1)
            le_new = self._lt[rows]
            lt_new = le_new - (win == new[:, None]).sum(axis=1)
        else:
            new = ((win <= cur) * -_HUGE_NEG + win).min(axis=1)
            lt_new = self._le[rows]
            le_new = lt_new + (win == new[:, None]).sum(axis=1)
        self._v[rows] = new
        self._lt[rows] = lt_new
        self._le[rows] = le_new

    def reset(self, history: np.ndarray) -> np.ndarray:
        """Replace the window by ``history`` (series × samples, oldest first; the last ``window`` are kept)."""
        history = np.asarray(history, np.float32)
        if history.ndim != 2 or history.shape[0] != self.n_series:
            raise OnlineError(f"history must be {self.n_series} series × samples, got {history.shape}")
        history = history[:, -self.window:]
        self.count = history.shape[1]
        self._buf[:, : self.count] = history
        self._pos = self.count % self.window
        if self.count == 0:
            return self.value
        win = self._buf[:, : self.count]
        k = self._rank()
        self._v[:] = np.partition(win, k, axis=1)[:, k]
        self._lt[:] = (win < self._v[:, None]).sum(axis=1)
        self._le[:] = (win <= self._v[:, None]).sum(axis=1)
        return self._v
