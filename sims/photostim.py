"""One photostimulation trial on the simulated tissue: light → direct spikes → network → evoked ΔF/F.

Timing follows seed 002's stimulation block: ``pulses`` pulses at ``pulse_rate_hz`` starting at t = 0, a response
window after the first pulse (default 0–2 s) compared against a pre-stimulus baseline. Extra network spikes are
spread evenly over the pulse train (the linear steady-state model of seed 002 says how many, not when).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calcium import trace_from_spikes, window_mean_per_spike
from .config import SimConfig
from .optics import light_at_cells, spike_probability
from .population import Population
from .responder import Responder


@dataclass(frozen=True)
class StimTiming:
    """Pulse train and analysis windows, seconds relative to the first pulse."""

    pulses: int = 10
    pulse_rate_hz: float = 10.0
    baseline_s: float = 1.0
    response_s: float = 2.0

    @property
    def pulse_times_s(self) -> np.ndarray:
        return np.arange(self.pulses) / self.pulse_rate_hz

    @property
    def train_s(self) -> float:
        return self.pulses / self.pulse_rate_hz


def direct_spikes_per_pulse(pop: Population, config: SimConfig, spots_xyz_um, spot_power_mw) -> np.ndarray:
    """Expected spikes per pulse of every imaged cell from the light of the given spots (imaging coordinates)."""
    light = light_at_cells(spots_xyz_um, spot_power_mw, pop.xyz_um, config.ppsf_radial_hwhm_um,
                           config.ppsf_axial_hwhm_um)
    return spike_probability(light, pop.stimmable_power_mw, pop.opsin, config.spike_hill_exponent,
                             config.spike_probability_at_stimmable)


def network_spikes(responder: Responder, pop: Population, direct_total: np.ndarray, timing: StimTiming) -> np.ndarray:
    """Extra spikes through the network, floored so no cell loses more spikes than it would fire in the train."""
    dr = responder.respond(direct_total).astype(np.float64)
    return np.maximum(dr, -pop.baseline_rate_hz * timing.train_s)


def expected_dff(pop: Population, config: SimConfig, responder: Responder, p_spike: np.ndarray,
                 timing: StimTiming = StimTiming()) -> np.ndarray:
    """Noise-free trial-averaged evoked ΔF/F (response window minus baseline) of every imaged cell."""
    direct = p_spike * timing.pulses
    net = network_spikes(responder, pop, direct, timing)
    window = (0.0, timing.response_s)
    w_direct = window_mean_per_spike(timing.pulse_times_s, window, config.tau_rise_s, config.tau_decay_s)
    spread = np.linspace(0.0, timing.train_s, 20, endpoint=False)
    w_net = window_mean_per_spike(spread, window, config.tau_rise_s, config.tau_decay_s)
    return config.dff_per_spike * (direct * w_direct + net * w_net)


def simulate_trials(pop: Population, config: SimConfig, responder: Responder, p_spike: np.ndarray, trials: int,
                    frame_rate_hz: float, rng: np.random.Generator, timing: StimTiming = StimTiming(),
                    noise_dff: float = 0.05) -> np.ndarray:
    """Trial-averaged evoked ΔF/F with spiking and measurement noise, ``(n,)``.

    Each trial: spontaneous Poisson spikes at the baseline rate (from 10 s before, so calcium is at steady state),
    Bernoulli direct spikes at each pulse, network spikes as a rate change during the train, GCaMP6s convolution,
    Gaussian per-frame noise of s.d. ``noise_dff``; response = mean over the response window − mean over baseline.
    """
    dt = 1.0 / frame_rate_hz
    pre = 10.0
    t = np.arange(-pre, timing.response_s, dt)
    n, nf = pop.n, len(t)
    stim_on = (t >= 0) & (t < timing.train_s)
    base = (t >= -timing.baseline_s) & (t < 0)
    resp = (t >= 0) & (t < timing.response_s)
    net_rate = network_spikes(responder, pop, p_spike * timing.pulses, timing) / timing.train_s
    out = np.zeros(n)
    pulse_frames = np.searchsorted(t, timing.pulse_times_s, side="right") - 1
    for _ in range(trials):
        rate = np.repeat(pop.baseline_rate_hz[:, None], nf, axis=1)
        rate[:, stim_on] = np.maximum(rate[:, stim_on] + net_rate[:, None], 0.0)
        counts = rng.poisson(rate * dt).astype(np.float64)
        hits = rng.random((n, timing.pulses)) < p_spike[:, None]
        np.add.at(counts, (slice(None), pulse_frames), hits.astype(np.float64))
        dff = trace_from_spikes(counts, frame_rate_hz, config.dff_per_spike, config.tau_rise_s, config.tau_decay_s)
        dff += rng.normal(0.0, noise_dff, dff.shape)
        out += dff[:, resp].mean(axis=1) - dff[:, base].mean(axis=1)
    return out / trials
