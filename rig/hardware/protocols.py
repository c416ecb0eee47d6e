"""What the rig needs from each piece of hardware, as typing Protocols.

The controller talks only to these interfaces; the simulated microscope (:mod:`sims`) and the real drivers
(:mod:`rig.drivers`) implement them. Times are seconds on ``time.monotonic()``-like clocks, powers mW at the sample.
"""
from __future__ import annotations

from typing import Optional, Protocol, Sequence, Union, runtime_checkable

import numpy as np

from rig.hardware.frames import Frame
from rig.safety import PowerLimits


@runtime_checkable
class SLM(Protocol):
    """A phase SLM that holds a session's precomputed masks and shows one by index.

    ``shape`` is (rows, cols); ``bit_depth`` 8 or 16; ``frame_period_s`` the time from one refresh to the next
    (the earliest a new mask is fully on the SLM after :meth:`show` returns is one period, plus liquid-crystal
    settling).
    """

    shape: tuple[int, int]
    bit_depth: int

    @property
    def frame_period_s(self) -> float: ...

    def load_masks(self, levels: np.ndarray) -> None:
        """Store masks of device levels, shape (n, rows, cols), uint8 (8-bit) or uint16 (16-bit)."""

    def show(self, index: int) -> float:
        """Write mask ``index`` to the SLM; return the monotonic time (s) at which the write completed."""

    def close(self) -> None: ...


@runtime_checkable
class StimulationLaser(Protocol):
    """The stimulation laser's power modulator and gate. It enforces ``limits`` itself before any output."""

    limits: PowerLimits

    def set_power(self, powers_mw: Union[Sequence[float], np.ndarray]) -> float:
        """Set the per-target powers (mW) of the next pulses; returns the total at the sample, mW.

        Raises :class:`rig.safety.PowerLimitError` if the request exceeds ``limits``; emits no light.
        """

    def pulse(self, n_pulses: int, pulse_s: float, rate_hz: float) -> float:
        """Emit ``n_pulses`` pulses of ``pulse_s`` at ``rate_hz`` at the set power; returns the first pulse's
        start time (monotonic s)."""

    def off(self) -> None:
        """No light, now. Must succeed whatever state the device is in."""

    def close(self) -> None: ...


@runtime_checkable
class ImagingSource(Protocol):
    """Calcium imaging frames with counters and timestamps, and a red (nuclear marker) reference image."""

    def next_frame(self, timeout_s: float) -> Optional[Frame]:
        """The next functional-channel frame, or None if none came within ``timeout_s``."""

    def red_image(self, plane: int = 0) -> np.ndarray:
        """Mean red-channel image of ``plane`` (for finding red nuclei), float32 (rows, cols)."""

    def close(self) -> None: ...


@runtime_checkable
class VisualStimulus(Protocol):
    """Drifting gratings and a grey screen (seed 002: full-field gratings, 8 directions, and blank)."""

    def show_grating(self, direction_deg: float, spatial_frequency_cpd: float, temporal_frequency_hz: float,
                     contrast: float, duration_s: float) -> float:
        """Start a drifting grating; returns its onset time (monotonic s)."""

    def blank(self) -> float:
        """Grey screen; returns its onset time (monotonic s)."""

    def close(self) -> None: ...


@runtime_checkable
class Treadmill(Protocol):
    """The running wheel."""

    def speed_cm_s(self) -> tuple[float, float]:
        """(monotonic time s, running speed cm/s) of the latest reading."""

    def close(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """A monotonic clock that waits precisely (sleep, then spin)."""

    def now(self) -> float: ...

    def sleep_until(self, target_s: float) -> float:
        """Return at or just after ``target_s`` (never before); returns the actual time."""
