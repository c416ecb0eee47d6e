"""Rigid, subpixel motion correction by phase correlation, one frame at a time.

Method (after suite2p's rigid registration, Pachitariu et al. 2017): both the reference and the frame are mean-subtracted and tapered at the edges, their
spectra are whitened (phase correlation), multiplied by a Gaussian that smooths the correlation peak, and only
the band where that Gaussian is non-negligible is kept. A small inverse FFT of that band samples the correlation exactly (the band is below the
samples' Nyquist limit); the highest sample within the maximum shift and a three-point Gaussian fit on each axis
give the subpixel shift. The frame is then resampled bilinearly (OpenCV).

Shift convention: ``(dy, dx)`` in pixels is the displacement of the frame's content relative to the reference,
``frame(y, x) = reference(y - dy, x - dx)``; the registered frame is ``frame(y + dy, x + dx)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import scipy.fft as sfft

from .errors import OnlineError

#: Spectral Gaussian weight below which frequencies are dropped (keeps the band small, so the FFTs are cheap).
_BAND_WEIGHT_CUTOFF = 0.05


@dataclass(frozen=True)
class Shift:
    """One frame's rigid shift in pixels; ``clipped`` when the peak hit the maximum-shift guard."""

    dy: float
    dx: float
    clipped: bool
    peak: float  # phase-correlation peak height (0–1): low values mean a poor match


def edge_taper(shape: tuple[int, int], width_px: int) -> np.ndarray:
    """Separable cosine ramp from 0 at the border to 1 at ``width_px`` inside it (float32, ``shape``)."""
    def ramp(n: int) -> np.ndarray:
        w = max(1, min(width_px, n // 2))
        r = np.ones(n, np.float32)
        edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(w) + 0.5) / w)
        r[:w] = edge
        r[n - w:] = edge[::-1]
        return r
    return np.outer(ramp(shape[0]), ramp(shape[1])).astype(np.float32)


class _Band:
    """Index bookkeeping of the low-frequency band of an rfft2 spectrum and its Gaussian weight."""

    def __init__(self, shape: tuple[int, int], smooth_px: float):
        ny, nx = shape
        f_cut = np.sqrt(np.log(1.0 / _BAND_WEIGHT_CUTOFF) / (2 * np.pi ** 2)) / smooth_px  # cycles/pixel
        self.ky = int(min(ny // 2 - 1, max(4, np.ceil(f_cut * ny))))
        self.kx = int(min(nx // 2 - 1, max(4, np.ceil(f_cut * nx))))
        self.rows = np.r_[0:self.ky + 1, ny - self.ky:ny]
        self.freq_y = np.r_[0:self.ky + 1, -self.ky:0].astype(np.float64)
        self.freq_x = np.arange(self.kx + 1, dtype=np.float64)
        fy, fx = self.freq_y[:, None] / ny, self.freq_x[None, :] / nx
        gauss = np.exp(-2 * np.pi ** 2 * smooth_px ** 2 * (fy ** 2 + fx ** 2))
        # Half-spectrum columns other than DC stand for their conjugate twins too.
        self.weight = (gauss * np.where(self.freq_x[None, :] > 0, 2.0, 1.0)).astype(np.float32)
        self.coarse = (sfft.next_fast_len(2 * self.ky + 2, real=True), sfft.next_fast_len(2 * self.kx + 2, real=True))
        self.step = (ny / self.coarse[0], nx / self.coarse[1])
        self.shape = shape

    def crop(self, spectrum: np.ndarray) -> np.ndarray:
        return spectrum[self.rows, : self.kx + 1]

    def coarse_correlation(self, band: np.ndarray) -> np.ndarray:
        """Correlation sampled every ``step`` pixels (exact samples: the band is below their Nyquist)."""
        my, mx = self.coarse
        padded = np.zeros((my, mx // 2 + 1), np.complex64)
        padded[: self.ky + 1, : self.kx + 1] = band[: self.ky + 1]
        padded[my - self.ky:, : self.kx + 1] = band[self.ky + 1:]
        # The weight already doubles the non-DC columns; irfft2 would double them again.
        padded[:, 1:] *= 0.5
        return sfft.irfft2(padded, s=(my, mx), workers=1)


def _gauss_vertex(a: float, b: float, c: float) -> float:
    """Subpixel offset of a peak from three samples at −1, 0, +1 (Gaussian fit, parabola when not positive)."""
    if a > 0 and b > 0 and c > 0:
        la, lb, lc = np.log(a), np.log(b), np.log(c)
        den = la - 2 * lb + lc
        if den < 0:
            return float(np.clip(0.5 * (la - lc) / den, -0.5, 0.5))
    den = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den < 0 else 0.0


class MotionCorrector:
    """Streaming rigid registration against a reference built from the first frames.

    Parameters
    ----------
    frame_shape : (rows, cols) of every frame.
    reference_frames : the reference is the running mean of the first this-many registered frames.
    max_shift_px : shifts are searched within ±this; a peak on the limit is reported as ``clipped``.
    smooth_px : s.d. (pixels) of the Gaussian smoothing the correlation peak.
    update_rate, update_every : after the build, an exponential update of the reference (0 = fixed).
    """

    def __init__(self, frame_shape: tuple[int, int], *, reference_frames: int = 100, max_shift_px: float = 30.0,
                 smooth_px: float = 1.5, update_rate: float = 0.0, update_every: int = 100):
        if len(frame_shape) != 2 or min(frame_shape) < 16:
            raise OnlineError(f"frame shape must be (rows, cols) of at least 16 × 16 pixels, got {frame_shape}")
        self.shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.reference_frames = int(reference_frames)
        self.max_shift_px = float(min(max_shift_px, min(self.shape) / 2 - 2))
        self.update_rate = float(update_rate)
        self.update_every = int(update_every)
        self._band = _Band(self.shape, smooth_px)
        self._taper = edge_taper(self.shape, max(4, min(self.shape) // 8))
        self._coarse_ok = self._coarse_search_mask()
        self._sum: Optional[np.ndarray] = None
        self._reference: Optional[np.ndarray] = None
        self._ref_band: Optional[np.ndarray] = None
        self._n_built = 0
        self._since_update = 0

    @classmethod
    def from_config(cls, frame_shape: tuple[int, int], config) -> "MotionCorrector":
        return cls(frame_shape, reference_frames=config.reference_frames, max_shift_px=config.max_shift_px,
                   smooth_px=config.registration_smooth_px, update_rate=config.reference_update_rate,
                   update_every=config.reference_update_every_frames)

    # ------------------------------------------------------------------ reference
    @property
    def reference(self) -> Optional[np.ndarray]:
        """The current reference image (float32), or None before the first frame."""
        return None if self._reference is None else self._reference.copy()

    @property
    def reference_ready(self) -> bool:
        """True once ``reference_frames`` frames went into the reference (or one was set explicitly)."""
        return self._n_built >= self.reference_frames

    def set_reference(self, image: np.ndarray) -> None:
        """Use ``image`` (rows × cols) as the reference from now on (e.g. a previous session's mean image)."""
        image = np.asarray(image, np.float32)
        if image.shape != self.shape or not np.all(np.isfinite(image)):
            raise OnlineError(f"reference must be a finite {self.shape} image, got shape {image.shape}")
        self._reference = image.copy()
        self._ref_band = self._whitened_band(self._reference)
        self._n_built = max(self._n_built, self.reference_frames)

    def _whitened_band(self, image: np.ndarray) -> np.ndarray:
        centred = (image - np.float32(image.mean())) * self._taper
        band = self._band.crop(sfft.rfft2(centred, workers=1))
        return band / (np.abs(band) + np.float32(1e-12))

    def _coarse_search_mask(self) -> np.ndarray:
        my, mx = self._band.coarse
        sy, sx = self._band.step
        oy = np.fft.fftfreq(my, 1.0 / my) * sy
        ox = np.fft.fftfreq(mx, 1.0 / mx) * sx
        lim = self.max_shift_px + 0.5 * max(sy, sx)
        return (np.abs(oy)[:, None] <= lim) & (np.abs(ox)[None, :] <= lim)

    # ------------------------------------------------------------------ registration
    def estimate_shift(self, frame: np.ndarray) -> Shift:
        """Shift of ``frame`` (float32, finite) against the current reference; (0, 0) for the very first frame."""
        if self._ref_band is None:
            return Shift(0.0, 0.0, False, 1.0)
        band = self._whitened_band(frame)
        cross = band * np.conj(self._ref_band)
        cross *= self._band.weight
        corr = self._band.coarse_correlation(cross)
        masked = np.where(self._coarse_ok, corr, -np.inf)
        iy, ix = np.unravel_index(int(np.argmax(masked)), corr.shape)
        my, mx = corr.shape
        # The smoothed peak is Gaussian, so a three-point Gaussian fit on the coarse samples is exact enough
        # (≈0.02–0.05 px on noisy frames) and needs no finer evaluation.
        fy = _gauss_vertex(corr[iy - 1, ix], corr[iy, ix], corr[(iy + 1) % my, ix])
        fx = _gauss_vertex(corr[iy, ix - 1], corr[iy, ix], corr[iy, (ix + 1) % mx])
        dy = ((iy if iy <= my // 2 else iy - my) + fy) * self._band.step[0]
        dx = ((ix if ix <= mx // 2 else ix - mx) + fx) * self._band.step[1]
        peak = float(corr[iy, ix] * my * mx / self._band.weight.sum())
        lim = self.max_shift_px
        clipped = abs(dy) > lim - 0.5 or abs(dx) > lim - 0.5
        return Shift(float(np.clip(dy, -lim, lim)), float(np.clip(dx, -lim, lim)), bool(clipped), peak)

    def apply_shift(self, frame: np.ndarray, dy: float, dx: float) -> np.ndarray:
        """``frame(y + dy, x + dx)`` by bilinear interpolation; borders replicate the edge pixels."""
        warp = np.float32([[1, 0, dx], [0, 1, dy]])
        return cv2.warpAffine(frame, warp, (self.shape[1], self.shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def register(self, frame: np.ndarray) -> tuple[np.ndarray, Shift]:
        """Estimate the shift of one finite float32 frame, resample it, and update the reference while building."""
        shift = self.estimate_shift(frame)
        registered = frame if self._ref_band is None else self.apply_shift(frame, shift.dy, shift.dx)
        self._update_reference(registered)
        return registered, shift

    def _update_reference(self, registered: np.ndarray) -> None:
        if not self.reference_ready:
            self._sum = registered.astype(np.float64) if self._sum is None else self._sum + registered
            self._n_built += 1
            self._reference = (self._sum / self._n_built).astype(np.float32)
            self._ref_band = self._whitened_band(self._reference)
            return
        if self.update_rate > 0:
            self._reference *= np.float32(1 - self.update_rate)
            self._reference += np.float32(self.update_rate) * registered
            self._since_update += 1
            if self._since_update >= self.update_every:
                self._ref_band = self._whitened_band(self._reference)
                self._since_update = 0
