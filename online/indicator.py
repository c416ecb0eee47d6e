"""Trial responses by a matched filter on the deconvolved ΔF/F, for stimuli whose timing is known (gratings).

A calcium indicator turns each spike into a transient ``(1 − e^{−t/τ_rise}) e^{−t/τ_decay}`` (GCaMP6s: τ_rise ≈
0.26 s, τ_decay ≈ 1.6 s, Chen et al. 2013). The transients of spontaneous spikes and of the previous trial's
response outlast a 2-s inter-trial interval, so a response window measured against the second before onset
carries that second's noise and the previous trial's tail. Filtering the trace with the decay,
``w_t = ΔF/F_t − g·ΔF/F_{t−1}`` with ``g = e^{−1/τ_decay}`` (τ in frames), turns every transient into a short pulse
(first-order deconvolution): a decaying tail contributes nothing, a slow baseline level only ``(1 − g)`` of itself
(which the blank trials' mean removes), and spontaneous spikes outside the stimulus stop leaking into its window.
The trial's response is then the least-squares amplitude of the expected filtered response to the stimulus (a
constant spike rate while it is on, convolved with the indicator transient and filtered the same way) — the
matched filter, which weights each frame by how much of the evoked signal it carries.

The filtered trace of a resting cell is not zero but ``(1 − g)`` × its resting ΔF/F (ΔF/F is measured against a
low percentile, and spontaneous transients add to it). That level is estimated from *quiet* frames — frames outside
every trial's evoked span (stimulus plus :func:`settle_frames`), where the filtered trace holds no tail of any
response — over the last few minutes, and subtracted. Measured on far more frames than the blank trials hold, it
replaces the blank reference of the tuning curve (whose noise moves every direction's mean together).

The amplitude is scaled to the *mean evoked ΔF/F over the response window*, the unit of the plain window estimate,
so the two estimators' numbers are comparable. On the simulated microscope's tuning block (seed 002 protocol,
30 repetitions) the OSI correlation with the planted truth rises from 0.83 (window − decaying baseline, blank
reference) to 0.90, against 0.93 for an ideal observer that counts the spikes themselves (docs/online.md).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .errors import OnlineError


def _integral_exp(tau: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """∫_lo^hi e^{−u/τ} du (τ in frames; lo ≤ hi)."""
    return tau * (np.exp(-lo / tau) - np.exp(-hi / tau))


def expected_response(rise_frames: float, decay_frames: float, stimulus_frames: float, n_frames: int) -> np.ndarray:
    """Expected ΔF/F at frames 0 … n−1 after onset of a constant spike rate during ``stimulus_frames``, scaled to
    unit mean over the ``n_frames``. Exact: the transient integrated over the spike times in closed form."""
    if not (decay_frames > 0 and rise_frames >= 0 and stimulus_frames > 0 and n_frames >= 1):
        raise OnlineError(f"indicator model needs decay > 0, rise ≥ 0, stimulus > 0 frames and a window of ≥ 1 "
                          f"frame; got decay {decay_frames}, rise {rise_frames}, stimulus {stimulus_frames}, "
                          f"window {n_frames}")
    t = np.arange(n_frames, dtype=np.float64)
    # spikes at s ∈ [0, min(t, S)]; with u = t − s the transient is e^{−u/τd} − e^{−u/τ'} (1/τ' = 1/τr + 1/τd)
    lo, hi = np.maximum(t - stimulus_frames, 0.0), t
    h = _integral_exp(decay_frames, lo, hi)
    if rise_frames > 0:
        h -= _integral_exp(1.0 / (1.0 / rise_frames + 1.0 / decay_frames), lo, hi)
    mean = h.mean()
    if not mean > 0:
        raise OnlineError(f"the response window of {n_frames} frames holds no expected response")
    return h / mean


@lru_cache(maxsize=64)
def _filtered_template(rise_frames: float, decay_frames: float, stimulus_frames: float, n_frames: int) -> np.ndarray:
    h = expected_response(rise_frames, decay_frames, stimulus_frames, n_frames)
    out = h.copy()
    out[1:] -= decay_factor(decay_frames) * h[:-1]
    out.setflags(write=False)
    return out


def decay_factor(decay_frames: float) -> float:
    """g = e^{−1/τ}: how much of a transient is left one frame later (τ in frames)."""
    return math.exp(-1.0 / decay_frames)


def decay_filter(dff: np.ndarray, decay_frames: float) -> np.ndarray:
    """``ΔF/F_t − g·ΔF/F_{t−1}`` (:func:`decay_factor`) for rows 1 … n of ``dff`` (frames × cells); NaN where either
    frame is missing."""
    dff = np.asarray(dff, np.float64)
    return dff[1:] - decay_factor(decay_frames) * dff[:-1]


def settle_frames(rise_frames: float) -> int:
    """Frames after a stimulus ends until its filtered response has fallen below e⁻⁴ (< 2 %) of its value then:
    the decay filter leaves only the rise term, which falls as e^{−t/τ_rise}."""
    return int(math.ceil(4.0 * rise_frames))


def matched_response(window: np.ndarray, rise_frames: float, decay_frames: float, stimulus_frames: float,
                     resting_level: np.ndarray | float = 0.0) -> np.ndarray:
    """Per-cell response amplitude (mean evoked ΔF/F over the response window) from the ΔF/F of the frame before
    onset and the response window's frames.

    ``window``: (1 + n) × cells, row 0 the frame before onset, rows 1 … n the response window; NaN rows are
    missing frames (dropped or rejected), left out of the fit together with the filtered sample after them.
    ``resting_level``: per cell, the mean of the decay-filtered trace when nothing is evoked
    (:func:`decay_filter` over quiet frames; ``(1 − g)`` × the resting ΔF/F), subtracted before the fit; with 0
    every response carries the same offset, which a blank reference removes instead.
    Returns NaN per cell when no filtered sample is left.
    """
    window = np.asarray(window, np.float64)
    n = window.shape[0] - 1
    if n < 1:
        raise OnlineError("the response window must hold at least one frame after the frame before onset")
    filtered = decay_filter(window, decay_frames) - resting_level
    ok = np.isfinite(filtered).all(axis=1)
    template = _filtered_template(float(rise_frames), float(decay_frames), float(stimulus_frames), n)[ok]
    norm = float(template @ template)
    if not ok.any() or norm <= 0:
        return np.full(window.shape[1], np.nan)
    return (template @ filtered[ok]) / norm
