"""A small seeded synthetic two-photon movie with known footprints, tuning, photostim thresholds and motion.

Ground truth the online pipeline must recover:
* each cell's double-von-Mises direction tuning (preferred direction, OSI on the 8 tested directions);
* each opsin-positive cell's threshold power (its true stimmable power is the lowest tested power at or above it);
* the rigid shift of every frame (applied by an exact Fourier shift of a padded canvas, then cropped).

Fluorescence model: F_cell(t) = b·(1 + ΔF/F(t)) inside the footprint plus 0.7 × the local neuropil (the soma hides
30 % of it, so the pipeline's c = 0.7 is right), ΔF/F(t) = drive(t) convolved with a GCaMP-like kernel (one-frame
rise, exponential decay); the neuropil is a smooth background that drifts slowly. Noise is Gaussian with a
shot-noise-like variance.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft
from scipy import ndimage, signal, sparse

DIRECTIONS_DEG = np.arange(0.0, 360.0, 45.0)
POWERS_MW = np.array([12.5, 25.0, 37.5, 50.0, 62.5, 75.0, 87.5, 100.0])  # seed 002 power test range


@dataclass
class SynthMovie:
    frames: np.ndarray            # T × rows × cols float32
    masks: np.ndarray             # cells × rows × cols bool
    shifts: np.ndarray            # T × 2 true (dy, dx) pixels
    events: list = field(default_factory=list)   # dicts: trial, kind, onset_frame, offset_frame, direction_deg, ensemble, targets, power_mw
    pd_deg: np.ndarray = None     # true preferred direction
    osi: np.ndarray = None        # true OSI of the noiseless curve on the 8 directions
    curves: np.ndarray = None     # cells × 8 true mean drive per direction
    responsive: np.ndarray = None
    tuned: np.ndarray = None
    opsin: np.ndarray = None
    stimmable_mw: np.ndarray = None  # true stimmable power (NaN: never stimmable or opsin-negative)
    dff: np.ndarray = None        # T × cells true ΔF/F


def _masks(rng, shape, n_cells, radius=3.5, min_dist=9.0, margin=8):
    centres = []
    while len(centres) < n_cells:
        c = rng.uniform([margin, margin], [shape[0] - margin, shape[1] - margin])
        if all(np.hypot(*(c - o)) >= min_dist for o in centres):
            centres.append(c)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.array([(yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= radius ** 2 for c in centres])


def _osi(curves):
    peak = np.argmax(curves, axis=1)
    rect = np.clip(curves, 0, None)
    rows = np.arange(len(curves))
    po = rect[rows, peak]
    oo = 0.5 * (rect[rows, (peak + 2) % 8] + rect[rows, (peak + 6) % 8])
    with np.errstate(invalid="ignore"):
        return np.where(po > 0, (po - oo) / (po + oo), np.nan)


def _tuning(rng, n):
    """True curves (cells × 8) as mean ΔF/F drive: 65 % tuned, 20 % untuned-responsive, 15 % unresponsive."""
    kind = rng.choice(3, n, p=[0.65, 0.2, 0.15])
    pd = rng.uniform(0, 360, n)
    kappa = rng.uniform(1.0, 3.0, n)
    alpha = rng.uniform(0.15, 0.4, n)
    beta = alpha * rng.uniform(0.2, 1.0, n)
    th = np.deg2rad(DIRECTIONS_DEG)[None]
    mu, k = np.deg2rad(pd)[:, None], kappa[:, None]
    curves = alpha[:, None] * np.exp(k * (np.cos(th - mu) - 1)) + beta[:, None] * np.exp(k * (np.cos(th - mu + np.pi) - 1))
    curves += rng.uniform(0.0, 0.02, n)[:, None]
    curves[kind == 1] = rng.uniform(0.1, 0.25, (int((kind == 1).sum()), 1))
    curves[kind == 2] = 0.0
    return curves, pd, kind


def _motion(rng, n_frames, sd_px=1.0, step_px=0.25):
    """AR(1) rigid motion with the given stationary s.d."""
    a = np.sqrt(max(0.0, 1 - (step_px / sd_px) ** 2))
    s = np.zeros((n_frames, 2))
    s[0] = rng.normal(0, sd_px, 2)
    for t in range(1, n_frames):
        s[t] = a * s[t - 1] + rng.normal(0, step_px, 2)
    return s


def make_movie(seed: int = 0, shape=(128, 128), n_cells: int = 60, *, tuning_reps: int = 10, blank: bool = True,
               power_test: bool = False, opsin_fraction: float = 0.75, warmup_frames: int = 100,
               motion_sd_px: float = 0.7, noise_scale: float = 1.0, decay_s: float = 0.5,
               frame_rate_hz: float = 10.0) -> SynthMovie:
    """Render a movie: a warm-up, a randomised grating block (8 directions × reps, plus blanks) and optionally a
    power test (groups of five cells × 8 powers × 3 repetitions)."""
    rng = np.random.default_rng(seed)
    masks = _masks(rng, shape, n_cells)
    curves, pd, kind = _tuning(rng, n_cells)
    events, drive_spans = [], []  # drive_spans: (start, stop, per-cell drive per frame)
    t = warmup_frames
    conds = [d for d in DIRECTIONS_DEG for _ in range(tuning_reps)] + ([np.nan] * tuning_reps if blank else [])
    stim, iti = int(round(frame_rate_hz)), int(round(2 * frame_rate_hz))  # 1 s gratings, 2 s ITI (seed 002)
    for i in rng.permutation(len(conds)):
        d = conds[i]
        amp = 0.0 if np.isnan(d) else curves[:, int(d // 45)]
        gain = rng.lognormal(0, 0.2, n_cells)
        drive_spans.append((t, t + stim, amp * gain))
        events.append(dict(trial=len(events), kind="blank" if np.isnan(d) else "grating", onset_frame=t,
                           offset_frame=t + stim, direction_deg=None if np.isnan(d) else float(d),
                           ensemble=None, targets=None, power_mw=None))
        t += stim + iti
    opsin = rng.random(n_cells) < opsin_fraction
    idx = rng.integers(0, POWERS_MW.size + 1, n_cells)  # index POWERS_MW.size = never stimmable at 100 mW
    upper = np.append(POWERS_MW, 150.0)[idx]
    threshold = upper - rng.uniform(0.5, 12.0, n_cells)
    stimmable = np.where(opsin & (idx < POWERS_MW.size), np.append(POWERS_MW, np.nan)[idx], np.nan)
    amp_stim = rng.uniform(0.6, 1.5, n_cells)
    if power_test:
        groups = np.array_split(rng.permutation(n_cells), max(1, n_cells // 5))
        trials = [(g, p) for g in groups for p in POWERS_MW for _ in range(3)]
        for j in rng.permutation(len(trials)):
            g, p = trials[j]
            amp = np.zeros(n_cells)
            hit = g[opsin[g] & (p >= threshold[g])]
            amp[hit] = amp_stim[hit] * rng.lognormal(0, 0.2, hit.size)
            drive_spans.append((t, t + 1, amp * 3.0))
            events.append(dict(trial=len(events), kind="photostim", onset_frame=t, offset_frame=t + 5,
                               direction_deg=None, ensemble=f"pt{len(events)}", targets=tuple(int(c) for c in g),
                               power_mw=float(p)))
            t += 15
    n_frames = t + 10
    drive = np.zeros((n_frames, n_cells))
    for a, b, amp in drive_spans:
        drive[a:b] += amp / (b - a) * 2.0
    drive += (rng.random((n_frames, n_cells)) < 0.01) * rng.uniform(0.1, 0.3, (n_frames, n_cells))
    kernel = np.exp(-np.arange(int(5 * decay_s * frame_rate_hz)) / (decay_s * frame_rate_hz))
    dff = signal.lfilter(kernel, [1.0], drive, axis=0)
    frames, shifts = _render(rng, masks, dff, motion_sd_px, noise_scale)
    responsive = kind < 2
    return SynthMovie(frames, masks, shifts, events, pd, _osi(curves), curves, responsive,
                      kind == 0, opsin, stimmable, dff.astype(np.float32))


def _render(rng, masks, dff, motion_sd_px, noise_scale, pad=12, chunk=256):
    n_cells, rows, cols = masks.shape
    n_frames = dff.shape[0]
    big = (rows + 2 * pad, cols + 2 * pad)
    pmasks = np.zeros((n_cells,) + big, np.float32)
    pmasks[:, pad:-pad, pad:-pad] = masks
    flat = pmasks.reshape(n_cells, -1)
    union = flat.max(axis=0)
    brightness = rng.uniform(100, 200, n_cells)
    neuropil = ndimage.gaussian_filter(rng.random(big), 6)
    neuropil = (40 + 60 * (neuropil - neuropil.min()) / np.ptp(neuropil)).ravel()
    shaded = (neuropil * (1 - 0.3 * union)).astype(np.float32)  # the somata hide 30 % of the neuropil
    sparse_masks = sparse.csr_matrix(flat)
    drift = (1 + 0.15 * np.sin(np.linspace(0, 3 * np.pi, n_frames) + rng.uniform(0, 6))).astype(np.float32)
    shifts = _motion(rng, n_frames, motion_sd_px, 0.25 * motion_sd_px) if motion_sd_px > 0 else np.zeros((n_frames, 2))
    ky = sfft.fftfreq(big[0])[:, None]
    kx = sfft.rfftfreq(big[1])[None, :]
    out = np.empty((n_frames, rows, cols), np.float32)
    for a in range(0, n_frames, chunk):
        b = min(n_frames, a + chunk)
        f_cells = (brightness[None, :] * (1 + dff[a:b])).astype(np.float32)   # T × cells
        img = np.asarray((sparse_masks.T @ f_cells.T).T) + drift[a:b, None] * shaded[None, :]
        img = img.reshape(b - a, *big)
        phase_y = np.exp(-2j * np.pi * shifts[a:b, 0, None, None] * ky).astype(np.complex64)
        phase_x = np.exp(-2j * np.pi * shifts[a:b, 1, None, None] * kx).astype(np.complex64)
        img = sfft.irfft2(sfft.rfft2(img, axes=(1, 2)) * phase_y * phase_x, s=big, axes=(1, 2))
        img = img[:, pad:-pad, pad:-pad]
        noise = rng.standard_normal(img.shape, dtype=np.float32) * np.sqrt(np.clip(img, 1, None) * 2.0)
        out[a:b] = img + noise * np.float32(noise_scale)
    return out, shifts


@functools.lru_cache(maxsize=4)
def cached_movie(seed: int = 0, **kwargs) -> SynthMovie:
    """The same movie for several tests (treat it as read-only)."""
    return make_movie(seed, **kwargs)


def replay(movie: SynthMovie, config=None, frames=None):
    """Feed ``movie`` through a fresh OnlinePipeline, events announced at their onset; returns the pipeline."""
    from online import OnlineConfig, OnlinePipeline
    pipe = OnlinePipeline(movie.masks, config=config or OnlineConfig())
    events = sorted(movie.events, key=lambda e: e["onset_frame"])
    k = 0
    for i, frame in enumerate(movie.frames if frames is None else frames):
        while k < len(events) and events[k]["onset_frame"] <= i:
            pipe.add_trial(**events[k])
            k += 1
        pipe.process(frame, frame_index=i)
    return pipe


def orientation_error_deg(a, b):
    """Absolute difference of orientations in degrees, folded into [0, 90]."""
    return np.abs((np.asarray(a) - np.asarray(b) + 90.0) % 180.0 - 90.0)
