"""An SLM driven as a second monitor (HDMI/DVI SLMs): a borderless full-screen window showing grey levels.

``pygame`` is imported only when the driver opens. Each mask is turned into a display surface once, at load, so
showing one is a blit and a buffer flip; with vsync the flip returns at the display refresh, and the mask is on the
SLM from the next frame. The level goes into all three colour channels, as 8-bit HDMI SLMs read it (set the
display to its native resolution and turn off any colour management).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np

from rig.config import SlmConfig
from rig.hardware.errors import HardwareError, MaskError
from rig.hardware.masks import check_levels

log = logging.getLogger(__name__)


def import_pygame() -> Any:
    try:
        import pygame  # noqa: PLC0415 - optional windowing library, only where an SLM is a monitor
    except ImportError:
        raise HardwareError("the 'monitor' SLM driver needs pygame: pip install pygame") from None
    return pygame


class MonitorSLM:
    """An 8-bit SLM on display ``monitor_index``.

    Parameters
    ----------
    shape : (rows, cols) of the SLM = the display's resolution.
    monitor_index : which display (0 is usually the main screen).
    refresh_hz : the display's refresh rate, Hz (reported as the frame period).
    pygame : the pygame module (tests pass :func:`rig.drivers.fakes.fake_pygame`).
    """

    bit_depth = 8

    def __init__(self, shape: tuple[int, int], monitor_index: int = 1, refresh_hz: float = 60.0,
                 pygame: Any = None, clock: Callable[[], float] = time.monotonic):
        self._pg = pygame if pygame is not None else import_pygame()
        self.shape = (int(shape[0]), int(shape[1]))
        self.monitor_index = int(monitor_index)
        self._refresh_hz = float(refresh_hz)
        self._clock = clock
        self._pg.init()
        displays = self._pg.display.get_num_displays()
        if not 0 <= self.monitor_index < displays:
            self._pg.quit()
            raise HardwareError(f"display {self.monitor_index} not found ({displays} connected); "
                                f"set slm.monitor_index to the SLM's display")
        flags = self._pg.NOFRAME | self._pg.FULLSCREEN
        self._screen = self._pg.display.set_mode((self.shape[1], self.shape[0]), flags,
                                                 display=self.monitor_index, vsync=1)
        self._pg.mouse.set_visible(False)
        self._surfaces: list[Any] = []
        self._open = True

    @classmethod
    def from_config(cls, slm: SlmConfig, **kwargs) -> "MonitorSLM":
        if slm.bit_depth != 8:
            raise HardwareError("the 'monitor' SLM driver shows 8-bit levels; set slm.bit_depth: 8")
        return cls(slm.shape, monitor_index=1 if slm.monitor_index is None else slm.monitor_index, **kwargs)

    @property
    def frame_period_s(self) -> float:
        return 1.0 / self._refresh_hz

    def load_masks(self, levels: np.ndarray) -> None:
        """Turn each mask (n, rows, cols) uint8 into a display surface (grey: the level in R, G and B)."""
        stack = check_levels(levels, self.shape, self.bit_depth)
        surfaces = []
        for mask in stack:
            rgb_xy = np.repeat(mask.T[:, :, None], 3, axis=2)  # pygame indexes pixels [x, y]
            surfaces.append(self._pg.surfarray.make_surface(rgb_xy).convert())
        self._surfaces = surfaces

    def show(self, index: int) -> float:
        """Blit mask ``index`` and flip; returns the time the flip returned (at vsync), monotonic s."""
        if not self._open:
            raise HardwareError("the monitor SLM is closed")
        if not 0 <= index < len(self._surfaces):
            raise MaskError(f"mask index {index} out of range: {len(self._surfaces)} masks loaded")
        self._screen.blit(self._surfaces[index], (0, 0))
        self._pg.display.flip()
        self._pg.event.pump()  # keep the window responsive to the OS
        return self._clock()

    def close(self) -> None:
        if self._open:
            self._open = False
            self._pg.display.quit()
            self._pg.quit()
