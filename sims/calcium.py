"""GCaMP6s: from spikes to ΔF/F.

A spike adds ``dff_per_spike · k(t)`` to ΔF/F, with the double-exponential kernel
``k(t) ∝ (1 − exp(−t/τ_rise)) · exp(−t/τ_decay)`` scaled to a peak of 1. Defaults follow GCaMP6s in mouse V1
L2/3 (Chen et al. 2013, Nature 499:295, Fig. 1 and Table 1): one action potential ≈ 0.23 ΔF/F, half-rise
≈ 0.18 s (τ_rise = 0.18/ln 2 ≈ 0.26 s), half-decay ≈ 1.1 s (τ_decay ≈ 1.6 s; the reported 1-AP half-decay is
shorter and the 10-AP one longer, ≈ 1.8 s, so this sits between them). Responses add linearly, as in the
sub-saturating regime of seed 002's modest perturbations.
"""
from __future__ import annotations

import numpy as np

from .errors import SimError


def kernel(t_s, tau_rise_s: float, tau_decay_s: float) -> np.ndarray:
    """Calcium kernel with unit peak at times ``t_s`` after a spike (0 before it)."""
    if tau_rise_s <= 0 or tau_decay_s <= 0:
        raise SimError(f"time constants must be positive, got rise {tau_rise_s} s, decay {tau_decay_s} s")
    t = np.asarray(t_s, dtype=np.float64)
    t_peak = tau_rise_s * np.log1p(tau_decay_s / tau_rise_s)
    peak = (1.0 - np.exp(-t_peak / tau_rise_s)) * np.exp(-t_peak / tau_decay_s)
    tc = np.maximum(t, 0.0)
    return np.where(t >= 0, (1.0 - np.exp(-tc / tau_rise_s)) * np.exp(-tc / tau_decay_s) / peak, 0.0)


def window_mean_per_spike(spike_times_s, window_s: tuple[float, float], tau_rise_s: float, tau_decay_s: float,
                          samples: int = 400) -> float:
    """Mean of the unit-peak kernel over ``window_s`` (relative to trial onset), averaged over spike times.

    The expected evoked ΔF/F of a cell in that window is ``dff_per_spike × extra spikes × this``.
    """
    t = np.linspace(window_s[0], window_s[1], samples)
    times = np.atleast_1d(np.asarray(spike_times_s, dtype=np.float64))
    return float(kernel(t[None, :] - times[:, None], tau_rise_s, tau_decay_s).mean())


def trace_from_spikes(spike_counts: np.ndarray, frame_rate_hz: float, dff_per_spike: float,
                      tau_rise_s: float, tau_decay_s: float) -> np.ndarray:
    """ΔF/F traces from spike counts per frame, ``(n_cells, n_frames)`` → same shape (causal convolution)."""
    counts = np.asarray(spike_counts, dtype=np.float64)
    n_frames = counts.shape[-1]
    t = np.arange(n_frames) / frame_rate_hz
    k = kernel(t, tau_rise_s, tau_decay_s) * dff_per_spike
    n_fft = 1 << int(np.ceil(np.log2(2 * n_frames)))
    out = np.fft.irfft(np.fft.rfft(counts, n_fft) * np.fft.rfft(k, n_fft), n_fft)[..., :n_frames]
    return out
