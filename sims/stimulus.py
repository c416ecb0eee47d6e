"""Visual stimulus and behaviour: drifting gratings (8 directions + blank) and treadmill running.

Gratings (seed 002, "Calcium imaging": 50°, 1 Hz, 0.08 cpd, 100 % contrast, 1 s, interleaved with grey) drive
each imaged cell at its tuning curve (:meth:`sims.population.Population.tuning_curve`) scaled by contrast.
Running: bouts arrive as a Poisson process; speed during a bout is drawn around ``running_speed_cm_s`` (above
seed 002's 6 cm/s exclusion threshold), between bouts the wheel jitters below 1 cm/s.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .config import SimConfig
from .errors import SimError


class MockVisualStimulus:
    """Implements the rig's ``VisualStimulus`` protocol; keeps the schedule the tissue reads."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        #: (onset_s, offset_s, direction_deg, contrast) of every grating shown
        self.schedule: list[tuple[float, float, float, float]] = []
        self.closed = False

    def show_grating(self, direction_deg: float, spatial_frequency_cpd: float = 0.08, temporal_frequency_hz: float = 1.0,
                     contrast: float = 1.0, duration_s: float = 1.0) -> float:
        """Start a drifting grating now, for ``duration_s``; returns its onset time."""
        if not 0.0 <= direction_deg < 360.0:
            raise SimError(f"direction must be in [0, 360) degrees, got {direction_deg}")
        if not 0.0 < contrast <= 1.0 or duration_s <= 0:
            raise SimError(f"contrast must be in (0, 1] and duration positive, got {contrast}, {duration_s}")
        onset = float(self._clock())
        self.blank_at(onset)
        self.schedule.append((onset, onset + float(duration_s), float(direction_deg), float(contrast)))
        return onset

    def blank_at(self, t_s: float) -> None:
        if self.schedule and self.schedule[-1][1] > t_s:
            on, _, d, c = self.schedule[-1]
            self.schedule[-1] = (on, t_s, d, c)

    def blank(self) -> float:
        """Grey screen from now; returns the time."""
        now = float(self._clock())
        self.blank_at(now)
        return now

    def grating_at(self, t_s: float):
        """(direction_deg, contrast) of the grating on screen at ``t_s``, or None for grey."""
        for on, off, d, c in reversed(self.schedule):
            if on <= t_s < off:
                return d, c
            if off <= t_s:
                return None
        return None

    def close(self) -> None:
        self.closed = True


class MockTreadmill:
    """Implements the rig's ``Treadmill`` protocol from a seeded bout schedule."""

    def __init__(self, config: SimConfig, clock: Callable[[], float], seed: int, duration_s: float = 6 * 3600.0):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
        rate = config.running_bout_rate_per_min / 60.0
        n = rng.poisson(rate * duration_s) if rate > 0 else 0
        starts = np.sort(rng.uniform(0.0, duration_s, n))
        self.bouts = np.column_stack([starts, starts + rng.exponential(config.running_bout_mean_s, n),
                                      np.maximum(rng.normal(config.running_speed_cm_s, 4.0, n), 7.0)]).reshape(-1, 3)
        self._clock = clock
        self._seed = int(seed)
        self.closed = False

    def speed_at(self, t_s: float) -> float:
        """Running speed at ``t_s``, cm/s (deterministic for the seed)."""
        i = np.searchsorted(self.bouts[:, 0], t_s, side="right") - 1
        if i >= 0 and t_s < self.bouts[i, 1]:
            return float(self.bouts[i, 2])
        jitter = np.random.default_rng([self._seed, int(t_s * 10)]).random()
        return float(0.8 * jitter)

    def speed_cm_s(self) -> tuple[float, float]:
        t = float(self._clock())
        return t, self.speed_at(t)

    def running(self, t_s: float, threshold_cm_s: float = 6.0) -> bool:
        return self.speed_at(t_s) > threshold_cm_s

    def close(self) -> None:
        self.closed = True
