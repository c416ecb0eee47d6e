"""An SLM with no hardware: it keeps the masks and records each show with its time.

Used by ``holostim slm-server`` when no device is wanted, by tests and by the switch-latency benchmark; it
implements :class:`rig.hardware.SLM` fully, so what works against it works against a real SLM driver.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from rig.hardware.errors import MaskError
from rig.hardware.frames import ShownMask
from rig.hardware.masks import check_levels


class NullSLM:
    """Records masks and what was shown when.

    Parameters
    ----------
    shape : (rows, cols) of the pretend SLM.
    bit_depth : 8 or 16.
    frame_period_s : reported refresh period, s (default 1/60 s, a plain display).
    clock : the monotonic clock used for show times.
    """

    def __init__(self, shape: tuple[int, int] = (1152, 1920), bit_depth: int = 8,
                 frame_period_s: float = 1.0 / 60, clock: Callable[[], float] = time.monotonic):
        self.shape = (int(shape[0]), int(shape[1]))
        self.bit_depth = int(bit_depth)
        self._frame_period_s = float(frame_period_s)
        self._clock = clock
        self.masks: Optional[np.ndarray] = None
        self.shown: list[ShownMask] = []
        self.closed = False

    @property
    def frame_period_s(self) -> float:
        return self._frame_period_s

    def load_masks(self, levels: np.ndarray) -> None:
        self.masks = check_levels(levels, self.shape, self.bit_depth).copy()

    def show(self, index: int) -> float:
        if self.masks is None:
            raise MaskError("no masks loaded: load the session's masks before showing one")
        if not 0 <= index < len(self.masks):
            raise MaskError(f"mask index {index} out of range: {len(self.masks)} masks loaded")
        shown_s = self._clock()
        self.shown.append(ShownMask(int(index), shown_s))
        return shown_s

    @property
    def current(self) -> Optional[np.ndarray]:
        """The mask on the SLM now (None before the first show)."""
        return None if not self.shown else self.masks[self.shown[-1].index]

    def close(self) -> None:
        self.closed = True
