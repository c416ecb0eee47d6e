"""Rigid, subpixel motion correction by phase correlation, one frame at a time.

Method (after suite2p's rigid registration, Pachitariu et al. 2017): both the reference and the frame are
mean-subtracted and tapered at the edges, their spectra are whitened (phase correlation), multiplied by a
Gaussian that smooths the correlation peak, and only the band where that Gaussian is non-negligible is kept. A
small inverse FFT of that band samples the correlation exactly (the band is below the samples' Nyquist limit);
the highest sample within the maximum shift and a three-point Gaussian fit on each axis give the subpixel shift.
The frame is then resampled bilinearly.

Cost per 512 × 512 frame on one core, kept low by computing only what the method uses:

* with the default smoothing (1.5 px) the band lies below a quarter cycle per pixel, so on frames of 256 px and
  more the spectra are taken at half resolution (one Gaussian-pyramid level, a quarter of the pixels;
  :func:`auto_downsample`), with nearly the same accuracy;
* the spectrum is OpenCV's float32 real DFT, read out for the band only;
* the correlation is evaluated only on the coarse samples within the maximum shift;
* the bilinear resampling is a 2 × 2 filter followed by a whole-pixel move (none for shifts under a pixel):
  what ``cv2.warpAffine`` computes, at a third of its cost.

Buffers are kept between frames, so a corrector is not to be shared between threads.

Shift convention: ``(dy, dx)`` in pixels is the displacement of the frame's content relative to the reference,
``frame(y, x) = reference(y - dy, x - dx)``; the registered frame is ``frame(y + dy, x + dx)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import scipy.fft as sfft

from .errors import OnlineError

#: Spectral Gaussian weight below which frequencies are dropped (keeps the band small, so the FFTs are cheap).
_BAND_WEIGHT_CUTOFF = 0.05
#: Largest Gaussian weight at a quarter cycle per pixel for which shifts are estimated at half resolution
#: (the band then loses frequencies of weight 0.05–0.1 only, next to the 0.05 cut-off of the full band).
_DOWNSAMPLE_MAX_WEIGHT = 0.1
#: Smallest side, pixels, of a half-resolution frame (see :func:`auto_downsample`).
_DOWNSAMPLE_MIN_PX = 128


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
        self.gauss = gauss.astype(np.float32)
        # Total weight of the two-sided spectrum (non-DC half-spectrum columns stand for their conjugate twins
        # too): the correlation peak of identical images, for normalising the peak height.
        self.weight_sum = float((gauss * np.where(self.freq_x[None, :] > 0, 2.0, 1.0)).astype(np.float32).sum())
        self.coarse = (sfft.next_fast_len(2 * self.ky + 2, real=True), sfft.next_fast_len(2 * self.kx + 2, real=True))
        self.step = (ny / self.coarse[0], nx / self.coarse[1])
        self.shape = shape


class _BandTransform:
    """The band of ``rfft2(image)`` and the coarse correlation near zero shift only.

    ``spectrum``: OpenCV's 2-D real DFT (float32, packed "CCS" layout: columns 1 … hold the Re, Im pairs of
    the one-sided spectrum for every row; column 0 holds the packed real transform of the DC column), read out
    for the band only (0.09 ms at 256 × 256 on one core, ``scipy.fft.rfft2`` 0.12 ms). ``correlation``: the
    inverse transform of a cross spectrum on the coarse grid, evaluated only on the grid rows and columns
    within ``limit_px`` of zero shift plus one sample each side (for the peak fit): an inverse FFT down the
    band's columns, then a real inverse FFT of the kept rows.
    """

    def __init__(self, band: _Band, limit_px: float):
        self.band = band
        self._packed = np.empty(band.shape, np.float32)
        self._spec = np.zeros((band.coarse[0], band.kx + 1), np.complex64)
        self.window_y = self._window(band.coarse[0], band.step[0], limit_px)
        self.window_x = self._window(band.coarse[1], band.step[1], limit_px)

    @staticmethod
    def _window(m: int, step: float, limit_px: float) -> np.ndarray:
        """Coarse-grid indices within ``limit_px`` of zero plus one each side, in order; all of 0…m-1 if that
        is the whole grid (then neighbours wrap around, as on the full grid)."""
        s = int(np.floor(limit_px / step)) + 1
        return np.arange(m) if 2 * s + 1 >= m else np.arange(-s, s + 1) % m

    def spectrum(self, image: np.ndarray) -> np.ndarray:
        """The band (``band.rows`` × ``kx + 1``, complex64) of ``rfft2(image)`` for a C-contiguous float32 image."""
        b = self.band
        packed = cv2.dft(image, dst=self._packed)
        out = np.empty((b.rows.size, b.kx + 1), np.complex64)
        out.view(np.float32)[:, 2:] = packed[b.rows, 1: 2 * b.kx + 1]   # kx < cols / 2: plain Re, Im pairs
        out[:, 0] = _unpack_real_spectrum(packed[:, 0])[b.rows]
        return out

    def correlation(self, cross: np.ndarray) -> np.ndarray:
        """``window_y`` × ``window_x`` samples of the coarse correlation of a band cross spectrum.

        ``cross`` carries the plain Gaussian weight ``band.gauss`` on every column: ``irfft`` of the one-sided
        spectrum counts the conjugate twins of the non-DC columns itself."""
        b, (my, mx) = self.band, self.band.coarse
        self._spec[: b.ky + 1] = cross[: b.ky + 1]
        self._spec[my - b.ky:] = cross[b.ky + 1:]
        partial = sfft.ifft(self._spec, axis=0, workers=1)[self.window_y]
        return sfft.irfft(partial, n=mx, axis=1, workers=1)[:, self.window_x]


def _split_shift(d: float, n: int) -> tuple[int, np.float32, int]:
    """A shift of ``d`` pixels along an axis of ``n`` as (whole-pixel move s, fraction f, filter anchor a).

    The registered line is ``(1 − f)·line(i + ⌊d⌋) + f·line(i + ⌊d⌋ + 1)`` with indices clamped to the line. A
    two-tap filter with replicated borders, anchored at its first tap (a = 0, s = ⌊d⌋) for d ≥ 0 or at its
    second (a = 1, s = ⌊d⌋ + 1) for d < 0, followed by a move by s with replicated borders, gives exactly that:
    where the move clamps, both taps clamp to the same edge pixel, and so does the filter's own border there.
    Shifts are clipped to ±(n − 1): beyond that every pixel is the edge pixel already.
    """
    d = min(max(float(d), -(n - 1.0)), n - 1.0)
    whole = math.floor(d)
    frac = np.float32(d - whole)
    return (whole, frac, 0) if d >= 0 else (whole + 1, frac, 1)


def _unpack_real_spectrum(packed: np.ndarray) -> np.ndarray:
    """Full complex spectrum (length n) of a real signal from OpenCV's packed layout Re0, Re1, Im1, Re2, …"""
    n = packed.size
    h = (n - 1) // 2                       # complex pairs; an even n also ends with the real Nyquist term
    full = np.empty(n, np.complex64)
    full[0] = packed[0]
    full[1: h + 1].real = packed[1: 2 * h + 1: 2]
    full[1: h + 1].imag = packed[2: 2 * h + 2: 2]
    if n % 2 == 0:
        full[n // 2] = packed[n - 1]
    full[n - h:] = np.conj(full[1: h + 1])[::-1]
    return full


def auto_downsample(shape: tuple[int, int], smooth_px: float) -> int:
    """2 when shifts can be estimated at half resolution without losing the band, else 1.

    The correlation only uses frequencies the Gaussian smoothing keeps; half resolution holds frequencies up to
    a quarter cycle per pixel, where the smoothing's weight exp(−2π²σ²f²) must be below
    ``_DOWNSAMPLE_MAX_WEIGHT`` (σ = ``smooth_px``; σ = 1.5 px gives 0.06). The pyramid filter's own attenuation
    cancels in the whitening, which divides each frequency by its magnitude. The halved frame must still be
    ``_DOWNSAMPLE_MIN_PX`` pixels on each side: on smaller frames the few remaining frequencies cost accuracy
    (≈ 1.3 × the shift error at 128 × 128, ≈ 1.1 × at 512 × 512 on the synthetic movie) and the FFTs are
    cheap anyway.
    """
    weight_at_quarter = np.exp(-2 * np.pi ** 2 * smooth_px ** 2 * 0.25 ** 2)
    small_enough = min(shape) // 2 >= _DOWNSAMPLE_MIN_PX
    return 2 if small_enough and weight_at_quarter <= _DOWNSAMPLE_MAX_WEIGHT else 1


def _inverse_magnitude(spectrum: np.ndarray) -> np.ndarray:
    """1 / (|spectrum| + ε), float32: the whitening factor of phase correlation."""
    inv = np.abs(spectrum)
    inv += np.float32(1e-12)
    return np.divide(np.float32(1.0), inv, out=inv)


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
    downsample : 1 or 2: estimate shifts at full or half resolution (a quarter of the work); None chooses 2 for
        frames of 256 px and more when the smoothing leaves the band below the half-resolution Nyquist limit
        (:func:`auto_downsample`).
    """

    def __init__(self, frame_shape: tuple[int, int], *, reference_frames: int = 100, max_shift_px: float = 30.0,
                 smooth_px: float = 1.5, update_rate: float = 0.0, update_every: int = 100,
                 downsample: Optional[int] = None):
        if len(frame_shape) != 2 or min(frame_shape) < 16:
            raise OnlineError(f"frame shape must be (rows, cols) of at least 16 × 16 pixels, got {frame_shape}")
        self.shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.reference_frames = int(reference_frames)
        self.max_shift_px = float(min(max_shift_px, min(self.shape) / 2 - 2))
        self.update_rate = float(update_rate)
        self.update_every = int(update_every)
        self.downsample = auto_downsample(self.shape, smooth_px) if downsample is None else int(downsample)
        if self.downsample not in (1, 2):
            raise OnlineError(f"downsample must be 1 or 2, got {downsample}")
        d = self.downsample
        small = (self.shape[0] // d, self.shape[1] // d)
        self._band = _Band(small, smooth_px / d)
        self._taper = edge_taper(small, max(4, min(small) // 8))
        # search limit in pixels of the (downsampled) grid the correlation lives on
        self._search_limit_px = self.max_shift_px / d + 0.5 * max(self._band.step)
        self._transform = _BandTransform(self._band, self._search_limit_px)
        self._coarse_ok = self._coarse_search_mask()
        self._centred = np.empty(small, np.float32)
        self._sum: Optional[np.ndarray] = None
        self._reference: Optional[np.ndarray] = None
        self._ref_band: Optional[np.ndarray] = None      # whitened reference band
        self._ref_cross: Optional[np.ndarray] = None     # its conjugate × the Gaussian weight
        self._n_built = 0
        self._since_update = 0

    @classmethod
    def from_config(cls, frame_shape: tuple[int, int], config) -> "MotionCorrector":
        return cls(frame_shape, reference_frames=config.reference_frames, max_shift_px=config.max_shift_px,
                   smooth_px=config.registration_smooth_px, update_rate=config.reference_update_rate,
                   update_every=config.reference_update_every_frames,
                   downsample=getattr(config, "registration_downsample", None))

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
        self._set_reference_band(self._reference)
        self._n_built = max(self._n_built, self.reference_frames)

    def _band_spectrum(self, image: np.ndarray) -> np.ndarray:
        """Band of the spectrum of the (downsampled,) mean-subtracted, edge-tapered image (complex64)."""
        image = np.asarray(image, np.float32)     # no copy for float32 frames; integers are not rounded when halved
        if self.downsample == 2:
            rows, cols = self._centred.shape
            # One Gaussian-pyramid level (5 × 5 binomial filter, every second pixel; an odd last row or column is
            # left out): the filter keeps the frame's fine structure from aliasing into the band, which plain
            # 2 × 2 block means let through (3–5 × the shift error on sharp-edged cells).
            image = cv2.pyrDown(image[: 2 * rows, : 2 * cols], dstsize=(cols, rows))
        centred = self._centred
        np.subtract(image, np.float32(image.mean()), out=centred)
        centred *= self._taper
        return self._transform.spectrum(centred)

    def _whitened_band(self, image: np.ndarray) -> np.ndarray:
        band = self._band_spectrum(image)
        return np.multiply(band, _inverse_magnitude(band), out=band)

    def _set_reference_band(self, reference: np.ndarray) -> None:
        self._ref_band = self._whitened_band(reference)
        self._ref_cross = np.conj(self._ref_band) * self._band.gauss

    def _coarse_search_mask(self) -> np.ndarray:
        """Which samples of the correlation window lie within the search limit."""
        my, mx = self._band.coarse
        sy, sx = self._band.step
        oy = np.fft.fftfreq(my, 1.0 / my)[self._transform.window_y] * sy
        ox = np.fft.fftfreq(mx, 1.0 / mx)[self._transform.window_x] * sx
        lim = self._search_limit_px
        return (np.abs(oy)[:, None] <= lim) & (np.abs(ox)[None, :] <= lim)

    # ------------------------------------------------------------------ registration
    def estimate_shift(self, frame: np.ndarray) -> Shift:
        """Shift of ``frame`` (float32, finite) against the current reference; (0, 0) for the very first frame."""
        if self._ref_band is None:
            return Shift(0.0, 0.0, False, 1.0)
        band = self._band_spectrum(frame)
        # Phase correlation: the frame's band whitened (÷ its magnitude), times the whitened reference's conjugate
        # and the Gaussian weight (folded into _ref_cross).
        cross = np.multiply(band, _inverse_magnitude(band), out=band)
        cross *= self._ref_cross
        corr = self._transform.correlation(cross)
        masked = np.where(self._coarse_ok, corr, -np.inf)
        jy, jx = np.unravel_index(int(np.argmax(masked)), corr.shape)
        wy, wx = corr.shape
        # The smoothed peak is Gaussian, so a three-point Gaussian fit on the coarse samples is exact enough
        # (≈0.02–0.05 px on noisy frames) and needs no finer evaluation. A peak inside the search limit has both
        # neighbours in the window; on a full grid they wrap around.
        fy = _gauss_vertex(corr[jy - 1, jx], corr[jy, jx], corr[(jy + 1) % wy, jx])
        fx = _gauss_vertex(corr[jy, jx - 1], corr[jy, jx], corr[jy, (jx + 1) % wx])
        (my, mx), iy, ix = self._band.coarse, int(self._transform.window_y[jy]), int(self._transform.window_x[jx])
        dy = ((iy if iy <= my // 2 else iy - my) + fy) * self._band.step[0] * self.downsample
        dx = ((ix if ix <= mx // 2 else ix - mx) + fx) * self._band.step[1] * self.downsample
        peak = float(corr[jy, jx] * my * mx / self._band.weight_sum)
        lim = self.max_shift_px
        clipped = abs(dy) > lim - 0.5 or abs(dx) > lim - 0.5
        return Shift(float(np.clip(dy, -lim, lim)), float(np.clip(dx, -lim, lim)), bool(clipped), peak)

    def apply_shift(self, frame: np.ndarray, dy: float, dx: float) -> np.ndarray:
        """``frame(y + dy, x + dx)`` by bilinear interpolation; borders replicate the edge pixels (a new array).

        What ``cv2.warpAffine`` (INTER_LINEAR, BORDER_REPLICATE) computes, in float32, at a third of its cost:
        bilinear interpolation at a constant shift is a 2 × 2 filter (weights of the fractional parts), applied
        with replicated borders, followed by a move by whole pixels with replicated borders; no move at all for
        shifts under a pixel (:func:`_split_shift` says why the borders come out right)."""
        frame = np.asarray(frame, np.float32)
        if frame.shape != self.shape:
            raise OnlineError(f"frame shape {frame.shape} is not {self.shape}")
        if not (math.isfinite(dy) and math.isfinite(dx)):
            raise OnlineError(f"shift ({dy}, {dx}) px is not finite")
        rows, cols = self.shape
        sy, fy, ay = _split_shift(dy, rows)
        sx, fx, ax = _split_shift(dx, cols)
        one = np.float32(1.0)
        kernel = np.array([[(one - fy) * (one - fx), (one - fy) * fx], [fy * (one - fx), fy * fx]], np.float32)
        filtered = cv2.filter2D(frame, -1, kernel, anchor=(ax, ay), borderType=cv2.BORDER_REPLICATE)
        if sy == 0 and sx == 0:
            return filtered
        inner = filtered[max(sy, 0): rows + min(sy, 0), max(sx, 0): cols + min(sx, 0)]
        return cv2.copyMakeBorder(inner, max(-sy, 0), max(sy, 0), max(-sx, 0), max(sx, 0), cv2.BORDER_REPLICATE)

    def register(self, frame: np.ndarray) -> tuple[np.ndarray, Shift]:
        """Estimate the shift of one finite float32 frame, resample it, and update the reference while building."""
        shift = self.estimate_shift(frame)
        registered = frame if self._ref_band is None else self.apply_shift(frame, shift.dy, shift.dx)
        self._update_reference(registered)
        return registered, shift

    def _update_reference(self, registered: np.ndarray) -> None:
        if not self.reference_ready:
            if self._sum is None:
                self._sum = registered.astype(np.float64)
                self._reference = np.empty(self.shape, np.float32)
            else:
                self._sum += registered                 # in place: no new 2 MB arrays per frame while building
            self._n_built += 1
            np.divide(self._sum, self._n_built, out=self._reference, casting="same_kind")
            self._set_reference_band(self._reference)
            return
        if self.update_rate > 0:
            self._reference *= np.float32(1 - self.update_rate)
            self._reference += np.float32(self.update_rate) * registered
            self._since_update += 1
            if self._since_update >= self.update_every:
                self._set_reference_band(self._reference)
                self._since_update = 0
