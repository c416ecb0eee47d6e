"""Connectivity kernels of the seed-002 model (Methods, "Mathematical model").

Spatial kernel of presynaptic population β, a sum of a broad and a narrow 2D Gaussian, each integrating to 1
over the cortical sheet (units 1/µm²)::

    g(r; σ_b, σ_n, κ) = (1 − κ)/(2π σ_b²) · exp(−r²/2σ_b²) + κ/(2π σ_n²) · exp(−r²/2σ_n²)

Feature kernel, a function of the orientation difference θ ∈ [0°, 90°]::

    h(θ) = r0 + rp · exp(−θ²/2σ²)

normalised here by its mean over θ ∈ [0°, 90°] so that a randomly tuned partner has weight 1 on average and the
feature rule redistributes, rather than adds, connection strength (the paper's normalisation factor z).
"""
from __future__ import annotations

import numpy as np

from .errors import SimError


def orientation_difference_deg(a_deg, b_deg) -> np.ndarray:
    """Absolute difference of orientations (period 180°), in [0, 90] degrees."""
    d = np.abs(np.asarray(a_deg, dtype=np.float64) - np.asarray(b_deg, dtype=np.float64)) % 180.0
    return np.minimum(d, 180.0 - d)


def gaussian_2d(r_um, sigma_um: float) -> np.ndarray:
    """Normalised 2D Gaussian density at distance ``r_um``, 1/µm²."""
    if sigma_um <= 0:
        raise SimError(f"Gaussian width must be positive, got {sigma_um} µm")
    r = np.asarray(r_um, dtype=np.float64)
    return np.exp(-0.5 * (r / sigma_um) ** 2) / (2.0 * np.pi * sigma_um ** 2)


def spatial_kernel(r_um, sigma_broad_um: float, sigma_narrow_um: float, kappa: float) -> np.ndarray:
    """Broad + narrow Gaussian spatial kernel g(r), 1/µm² (integrates to 1 over the plane)."""
    if not 0.0 <= kappa <= 1.0:
        raise SimError(f"kappa (weight of the narrow component) must be in [0, 1], got {kappa}")
    out = (1.0 - kappa) * gaussian_2d(r_um, sigma_broad_um)
    if kappa > 0:
        out = out + kappa * gaussian_2d(r_um, sigma_narrow_um)
    return out


def feature_kernel_raw(theta_deg, r0: float, rp: float, sigma_deg: float) -> np.ndarray:
    """h(θ) = r0 + rp·exp(−θ²/2σ²) for θ the orientation difference in degrees (wrapped to [0, 90])."""
    if sigma_deg <= 0:
        raise SimError(f"feature kernel width must be positive, got {sigma_deg}°")
    theta = orientation_difference_deg(theta_deg, 0.0)
    return r0 + rp * np.exp(-0.5 * (theta / sigma_deg) ** 2)


def feature_kernel_mean(r0: float, rp: float, sigma_deg: float) -> float:
    """Mean of h(θ) over θ uniform in [0°, 90°] (numerical, 0.01° steps)."""
    theta = np.linspace(0.0, 90.0, 9001)
    return float(np.trapezoid(feature_kernel_raw(theta, r0, rp, sigma_deg), theta) / 90.0)


def feature_kernel(theta_deg, r0: float, rp: float, sigma_deg: float) -> np.ndarray:
    """h(θ) divided by its mean over [0°, 90°]: 1 on average, > 1 for like-to-like partners.

    With r0 = rp = 0 the rule is switched off (h ≡ 1), the paper's spatial-only model.
    """
    if r0 < 0 or rp < 0 or r0 + rp <= 0:
        if r0 == 0 and rp == 0:
            return np.ones_like(np.asarray(theta_deg, dtype=np.float64))
        raise SimError(f"feature kernel needs r0 ≥ 0, rp ≥ 0 and r0 + rp > 0, got r0={r0}, rp={rp}")
    return feature_kernel_raw(theta_deg, r0, rp, sigma_deg) / feature_kernel_mean(r0, rp, sigma_deg)
