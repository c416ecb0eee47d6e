"""Motion-correction references in the frame where the targets were found.

The cells (and their footprints) come from the red-channel image; the functional frames wander (brain motion).
Seed 002 excludes trials whose registration shows the FOV shifted by more than 3 px "indicating a miss", i.e.
shifts relative to the position in which the targets were found. So each plane's reference is the mean of the
first functional frames (registered among themselves), moved onto the red image by phase correlation; the
online pipelines then register every frame onto that, so footprints fit and shifts mean mistargeting.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from online import MotionCorrector


def build_references(ctx, config) -> list[np.ndarray]:
    """Acquire until every plane has a reference, then align each onto its red image; returns the references."""
    shape = tuple(ctx.rig.imaging.pixels)
    n_planes = len(ctx.rig.imaging.planes_z_um)
    correctors = [MotionCorrector.from_config(shape, config) for _ in range(n_planes)]
    frame_s = 1.0 / (ctx.volume_rate_hz * n_planes)
    while not all(c.reference_ready for c in correctors):
        frame = ctx.acq.next_frame(timeout_s=max(frame_s * 4, ctx.rig.zmq.timeout_s / 10))
        if frame is None:
            continue
        correctors[frame.plane].register(np.asarray(frame.image, np.float32))
    refs = []
    for k, corrector in enumerate(correctors):
        ref = corrector.reference
        red = np.asarray(ctx.hw.imaging.red_image(k), np.float32)
        dy, dx = offset_px(ref, red, config.max_shift_px)
        refs.append(corrector.apply_shift(ref, dy, dx))
        ctx.writer.append_event("reference_offset", ctx.acq.now(), value=float(np.hypot(dy, dx)),
                                detail=f"plane {k}: dy {dy:+.2f} px, dx {dx:+.2f} px")
    return refs


def _cells_only(image: np.ndarray) -> np.ndarray:
    """Band-pass at the scale of cell bodies (difference of Gaussians), so nuclei and somata line up."""
    return ndimage.gaussian_filter(image, 1.5) - ndimage.gaussian_filter(image, 6.0)


def offset_px(functional: np.ndarray, red: np.ndarray, max_shift_px: float) -> tuple[float, float]:
    """(dy, dx) by which ``functional`` content sits displaced from ``red``, pixels (cross-correlation of the
    band-passed images, parabolic sub-pixel peak); ``functional(y + dy, x + dx)`` lines up with ``red``."""
    a, b = _cells_only(np.asarray(functional, np.float32)), _cells_only(np.asarray(red, np.float32))
    corr = np.fft.irfft2(np.fft.rfft2(a) * np.conj(np.fft.rfft2(b)), s=a.shape)
    lim = int(min(max_shift_px, min(a.shape) // 4))
    dys = np.r_[0:lim + 1, -lim:0]
    window = corr[np.ix_(dys % a.shape[0], dys % a.shape[1])]
    iy, ix = np.unravel_index(int(np.argmax(window)), window.shape)

    def vertex(m, c, p):
        d = m - 2 * c + p
        return 0.5 * (m - p) / d if d < 0 else 0.0

    n = len(dys)
    fy = vertex(window[(iy - 1) % n, ix], window[iy, ix], window[(iy + 1) % n, ix])
    fx = vertex(window[iy, (ix - 1) % n], window[iy, ix], window[iy, (ix + 1) % n])
    return float(dys[iy] + fy), float(dys[ix] + fx)
