"""A simulated stimulation laser (power modulator + gate) that refuses unsafe power before emitting anything.

Implements the rig's ``StimulationLaser`` protocol: ``set_power`` takes the per-target powers (mW at the sample)
the next pulses are meant to deliver and returns their total, which becomes the laser power entering the SLM
path; ``pulse`` emits a train and tells the microscope (``on_pulse`` callback) so the tissue receives the light.
Limits: the rig's :class:`rig.safety.LaserGuard` when the rig package is present, else the same two checks here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .errors import SimError


@dataclass(frozen=True)
class PulseTrain:
    """One emitted train: start time, count, width, rate, total power (mW)."""

    start_s: float
    n_pulses: int
    pulse_s: float
    rate_hz: float
    total_mw: float

    @property
    def pulse_times_s(self) -> np.ndarray:
        return self.start_s + np.arange(self.n_pulses) / self.rate_hz

    @property
    def end_s(self) -> float:
        return float(self.pulse_times_s[-1] + self.pulse_s)


class _Limits:
    def __init__(self, max_per_target_mw: float, max_total_mw: float):
        self.max_per_target_mw = float(max_per_target_mw)
        self.max_total_mw = float(max_total_mw)


def _guard(max_per_target_mw: float, max_total_mw: float):
    """The rig's LaserGuard if importable (same checks and PowerLimitError as real drivers), else None."""
    try:
        from rig.safety import LaserGuard, PowerLimits
    except ImportError:
        return None, _Limits(max_per_target_mw, max_total_mw)
    limits = PowerLimits(float(max_per_target_mw), float(max_total_mw))
    return LaserGuard(limits), limits


class MockLaser:
    """Simulated laser. ``on_pulse(train)`` is called for every train (the microscope delivers the light)."""

    def __init__(self, max_power_per_target_mw: float, max_total_power_mw: float,
                 clock: Callable[[], float], on_pulse: Optional[Callable[[PulseTrain], None]] = None):
        self._guard, self.limits = _guard(max_power_per_target_mw, max_total_power_mw)
        self._clock = clock
        self.on_pulse = on_pulse
        self.total_mw = 0.0
        self.trains: list[PulseTrain] = []
        self.closed = False

    def _check(self, powers_mw) -> np.ndarray:
        if self._guard is not None:
            return np.asarray(self._guard.check(powers_mw), dtype=np.float64)
        p = np.atleast_1d(np.asarray(powers_mw, dtype=np.float64))
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            raise SimError("laser powers must be finite and non-negative, mW")
        if np.any(p > self.limits.max_per_target_mw) or p.sum() > self.limits.max_total_mw:
            raise SimError(f"requested powers exceed the limits ({self.limits.max_per_target_mw} mW per target, "
                           f"{self.limits.max_total_mw} mW total); lower the power")
        return p

    def set_power(self, powers_mw) -> float:
        """Set the per-target powers of the next pulses; returns the total, mW. Refuses (emits nothing) if unsafe."""
        p = self._check(powers_mw)
        self.total_mw = float(p.sum())
        return self.total_mw

    def pulse(self, n_pulses: int, pulse_s: float, rate_hz: float) -> float:
        """Emit ``n_pulses`` pulses of ``pulse_s`` at ``rate_hz``; returns the first pulse's start time."""
        if self.closed:
            raise SimError("the laser is closed")
        if n_pulses < 1 or pulse_s <= 0 or rate_hz <= 0 or pulse_s >= 1.0 / rate_hz:
            raise SimError(f"bad pulse train: {n_pulses} pulses of {pulse_s} s at {rate_hz} Hz "
                           "(need ≥ 1 pulse, a width shorter than the period)")
        train = PulseTrain(float(self._clock()), int(n_pulses), float(pulse_s), float(rate_hz), self.total_mw)
        self.trains.append(train)
        if self.on_pulse is not None and self.total_mw > 0:
            self.on_pulse(train)
        return train.start_s

    def off(self) -> None:
        self.total_mw = 0.0

    def close(self) -> None:
        self.off()
        self.closed = True
