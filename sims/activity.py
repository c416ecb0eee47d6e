"""Activity of the imaged cells over time: spikes from every source, integrated into GCaMP6s ΔF/F.

Sources of spikes in an interval: spontaneous Poisson firing at each cell's grey-screen rate; visual drive while
a grating is on (tuning curve × contrast); photostimulation (Bernoulli spikes at each pulse with the per-cell
probability the light gives, :mod:`sims.optics`); and the network's response to those direct spikes, a rate
change spread over the pulse train (:mod:`sims.responder`; the steady-state linear model of seed 002).

Calcium: the kernel ``(1 − e^{−t/τr}) e^{−t/τd} = e^{−t/τd} − e^{−t/τ2}`` (1/τ2 = 1/τr + 1/τd) is two decaying
states per cell, so advancing to any time costs O(cells) regardless of history.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SimConfig
from .population import Population


@dataclass
class _Train:
    pulse_times_s: np.ndarray
    p_spike: np.ndarray       #: per-cell spike probability per pulse
    net_rate_hz: np.ndarray   #: per-cell network rate change during the train
    end_s: float


class Activity:
    """Integrates spikes into ΔF/F; call :meth:`advance_to` with non-decreasing times."""

    def __init__(self, population: Population, config: SimConfig, seed: int, visual=None, start_s: float = 0.0):
        self.pop = population
        self.config = config
        self.visual = visual
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), 8]))
        self.t = float(start_s)
        n = population.n
        self.slow = np.zeros(n)
        self.fast = np.zeros(n)
        self.tau_fast = 1.0 / (1.0 / config.tau_rise_s + 1.0 / config.tau_decay_s)
        t_peak = config.tau_rise_s * np.log1p(config.tau_decay_s / config.tau_rise_s)
        self.scale = config.dff_per_spike / ((1 - np.exp(-t_peak / config.tau_rise_s)) * np.exp(-t_peak / config.tau_decay_s))
        self.trains: list[_Train] = []
        self._curves = population.tuning_curve(np.arange(0.0, 360.0, 1.0))   # 1° lookup of visual drive
        self.spike_count = np.zeros(n)

    def add_train(self, pulse_times_s, p_spike, net_rate_hz) -> None:
        """Register a photostimulation train (pulse times, per-cell spike probability, network rate change)."""
        times = np.asarray(pulse_times_s, dtype=np.float64)
        end = float(times[-1] + (times[1] - times[0] if len(times) > 1 else 0.1))
        self.trains.append(_Train(times, np.asarray(p_spike, dtype=np.float64),
                                  np.asarray(net_rate_hz, dtype=np.float64), end))

    def _rate(self, t0: float, t1: float) -> np.ndarray:
        rate = self.pop.baseline_rate_hz.copy()
        if self.visual is not None:
            g = self.visual.grating_at(0.5 * (t0 + t1))
            if g is not None:
                rate += self._curves[:, int(round(g[0])) % 360] * g[1]
        for tr in self.trains:
            if tr.pulse_times_s[0] < t1 and t0 < tr.end_s:
                overlap = min(t1, tr.end_s) - max(t0, tr.pulse_times_s[0])
                rate += tr.net_rate_hz * overlap / (t1 - t0)
        return np.maximum(rate, 0.0)

    def _inject(self, spikes: np.ndarray, t_spike: float, t_end: float) -> None:
        self.slow += spikes * np.exp(-(t_end - t_spike) / self.config.tau_decay_s)
        self.fast += spikes * np.exp(-(t_end - t_spike) / self.tau_fast)
        self.spike_count += spikes

    def advance_to(self, t_s: float) -> None:
        """Integrate spikes and calcium from the current time to ``t_s``."""
        t1 = float(t_s)
        if t1 <= self.t:
            return
        t0, dt = self.t, t1 - self.t
        self.slow *= np.exp(-dt / self.config.tau_decay_s)
        self.fast *= np.exp(-dt / self.tau_fast)
        spont = self.rng.poisson(self._rate(t0, t1) * dt).astype(np.float64)
        self._inject(spont, 0.5 * (t0 + t1), t1)
        for tr in self.trains:
            for tp in tr.pulse_times_s[(tr.pulse_times_s >= t0) & (tr.pulse_times_s < t1)]:
                self._inject((self.rng.random(self.pop.n) < tr.p_spike).astype(np.float64), tp, t1)
        self.trains = [tr for tr in self.trains if tr.end_s > t1]
        self.t = t1

    def dff(self) -> np.ndarray:
        """Current ΔF/F of every imaged cell."""
        return self.scale * (self.slow - self.fast)
