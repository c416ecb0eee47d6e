"""Propagate a phase mask to the intensity at arbitrary 3D points and on planes (previews, metrics, mock SLM).

Same discrete-sum field as :mod:`holography.geometry`: ``E(x, y, z) = Σ exp(i(φ − θ_{x,y,z}))`` over the SLM
pixels; results are ``|E|²/(rows·cols)²``, the fraction of a perfect single spot's intensity. The sums are done
as dense complex64 matrix products over the separable factors (O(rows·cols) per point, no per-point full-frame
exponential), in chunks of points to bound memory.
"""
from __future__ import annotations

import numpy as np

from holography.errors import HologramError
from holography.geometry import SLMGeometry

_CHUNK = 512


def unit_field(phase, geometry: SLMGeometry) -> np.ndarray:
    """exp(iφ) of a mask as complex64, checking its shape against the SLM."""
    phi = np.asarray(phase, dtype=np.float32)
    if phi.shape != geometry.shape:
        raise HologramError(f"phase mask has shape {phi.shape} but the SLM is {geometry.shape}")
    if not np.isfinite(phi).all():
        raise HologramError("phase mask contains NaN or inf")
    field = np.empty(phi.shape, dtype=np.complex64)
    parts = field.view(np.float32).reshape(phi.shape + (2,))
    np.cos(phi, out=parts[..., 0])
    np.sin(phi, out=parts[..., 1])
    return field


def _points(points_um) -> np.ndarray:
    pts = np.asarray(points_um, dtype=np.float64)
    if pts.ndim == 1 and pts.size == 3:
        pts = pts.reshape(1, 3)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise HologramError(f"points must be an array of (x, y, z) µm rows, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise HologramError("points contain NaN or inf")
    return pts


def field_at_points(field: np.ndarray, points_um, geometry: SLMGeometry) -> np.ndarray:
    """Complex discrete-sum field (not normalised) that the SLM field ``exp(iφ)`` makes at each point."""
    pts = _points(points_um)
    out = np.empty(len(pts), dtype=np.complex128)
    for start in range(0, len(pts), _CHUNK):
        rows_f, cols_f = geometry.axis_factors(pts[start:start + _CHUNK])
        partial = field @ np.conj(cols_f)  # rows × k: Σ_c U(r, c) exp(−iα_k(c))
        out[start:start + _CHUNK] = np.einsum("rk,rk->k", np.conj(rows_f), partial)
    return out


def intensity_at_points(phase, points_um, geometry: SLMGeometry) -> np.ndarray:
    """Fraction of a perfect single spot's intensity that the mask ``phase`` puts at each (x, y, z) µm point.

    Vectorised: two complex64 matrix products per chunk of points. Points outside the reachable field are
    allowed (the discrete sum is periodic there: they see the aliased copies of the spots, as on a real SLM).
    """
    field = unit_field(phase, geometry)
    return np.abs(field_at_points(field, points_um, geometry)) ** 2 / float(geometry.n_pixels) ** 2


def intensity_on_plane(phase, geometry: SLMGeometry, z_um: float, x_um, y_um) -> np.ndarray:
    """Intensity fraction on the grid ``y_um × x_um`` (1-D µm arrays) of the plane at defocus ``z_um``.

    Returns an array of shape (len(y_um), len(x_um)). Computed as ``conj(A_y)ᵀ @ exp(iφ) @ conj(B_x)``.
    """
    field = unit_field(phase, geometry)
    x = np.asarray(x_um, dtype=np.float64).reshape(-1)
    y = np.asarray(y_um, dtype=np.float64).reshape(-1)
    if not (np.isfinite(x).all() and np.isfinite(y).all() and np.isfinite(z_um)):
        raise HologramError("plane coordinates contain NaN or inf")
    _, cols_f = geometry.axis_factors(np.column_stack([x, np.zeros_like(x), np.full_like(x, z_um)]))
    rows_f, _ = geometry.axis_factors(np.column_stack([np.zeros_like(y), y, np.full_like(y, z_um)]))
    plane = np.conj(rows_f).T @ (field @ np.conj(cols_f))
    return np.abs(plane) ** 2 / float(geometry.n_pixels) ** 2


def intensity_plane_fft(phase, geometry: SLMGeometry, z_um: float, pad: int = 2):
    """Intensity fraction over the whole reachable field of the plane at defocus ``z_um``, by one FFT.

    The same discrete sum sampled on its natural grid, refined ``pad`` times by zero padding: spacing
    λf/(pad·N·pitch) µm along each axis. Returns ``(intensity, x_um, y_um)`` with ``intensity`` of shape
    (len(y_um), len(x_um)), centred on the optical axis (fftshift order).
    """
    field = unit_field(phase, geometry)
    y_um, x_um = geometry.pixel_coords_um()
    lf2 = geometry.wavelength_um * geometry.focal_length_um ** 2
    field *= np.exp(-1j * np.pi * z_um / lf2 * y_um ** 2).astype(np.complex64)[:, None]
    field *= np.exp(-1j * np.pi * z_um / lf2 * x_um ** 2).astype(np.complex64)[None, :]
    size = (pad * geometry.shape[0], pad * geometry.shape[1])
    spectrum = np.fft.fftshift(np.fft.fft2(field, s=size))
    intensity = np.abs(spectrum) ** 2 / float(geometry.n_pixels) ** 2
    lf = geometry.wavelength_um * geometry.focal_length_um
    # exp(−iθ) has frequency +x/(λf) per µm of X, so x = λf · (FFT frequency per µm of X) … with the FFT's
    # kernel exp(−2πi k n/N) matching exp(−2πi x X/(λf)) at x = k·λf/(N·pitch).
    fx = np.fft.fftshift(np.fft.fftfreq(size[1], d=geometry.pitch_um)) * lf
    fy = np.fft.fftshift(np.fft.fftfreq(size[0], d=geometry.pitch_um)) * lf
    return intensity, fx, fy
