"""Per-target power: the SLM's diffraction-efficiency model, weights from requested powers, and the laser power
a hologram needs, refused above the rig's maxima.

Seed 002 (Methods, "Holographic stimulation"): each cell gets its own power, its 'stimmable power' × 1.1–1.2,
and holograms are designed "based on its stimmability and the diffraction efficiencies of each spot".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from holography.errors import HologramError
from holography.geometry import SLMGeometry
from holography.targets import positive_per_target


def diffraction_efficiency(targets_um, geometry: SLMGeometry) -> np.ndarray:
    """Relative diffraction efficiency of a spot at each (x, y, z) µm (1 at the zero order, in focus).

    Lateral: the square pixel's sinc² envelope, sinc²(a·x·pitch/(λf))·sinc²(a·y·pitch/(λf)) with ``a`` the
    pixel fill fraction (np.sinc(t) = sin(πt)/(πt)); at the edge of the reachable field (a = 1) that is
    sinc²(½) ≈ 0.405 per axis. Axial: a Gaussian loss exp(−z²/(2·σ_z²)) with σ_z = ``defocus_sigma_um``.
    """
    pts = np.asarray(targets_um, dtype=np.float64).reshape(-1, 3)
    scale = geometry.pixel_fill_fraction * geometry.pitch_um / (geometry.wavelength_um * geometry.focal_length_um)
    lateral = np.sinc(scale * pts[:, 0]) ** 2 * np.sinc(scale * pts[:, 1]) ** 2
    axial = np.exp(-pts[:, 2] ** 2 / (2.0 * geometry.defocus_sigma_um ** 2))
    return lateral * axial


def power_weights(targets_um, requests_mw, geometry: SLMGeometry) -> np.ndarray:
    """Hologram weights (relative intensities, sum 1) that deliver ``requests_mw`` after the efficiency loss."""
    pts = np.asarray(targets_um, dtype=np.float64).reshape(-1, 3)
    weights = positive_per_target(requests_mw, len(pts), "requested powers", "mW") / diffraction_efficiency(pts, geometry)
    return weights / weights.sum()


@dataclass(frozen=True)
class PowerLimits:
    """The rig's safety maxima (rig profile ``laser`` section), mW at the sample."""

    max_power_per_target_mw: float
    max_total_power_mw: float

    def __post_init__(self) -> None:
        for name in ("max_power_per_target_mw", "max_total_power_mw"):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value <= 0:
                raise HologramError(f"{name} must be a positive number, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)

    @classmethod
    def from_rig_laser(cls, laser) -> "PowerLimits":
        """From a rig profile's ``laser`` section (an object with those attributes, or a mapping)."""
        get = laser.get if isinstance(laser, dict) else (lambda k: getattr(laser, k))
        return cls(get("max_power_per_target_mw"), get("max_total_power_mw"))


@dataclass(frozen=True)
class LaserPowerPlan:
    """Laser power for one hologram and what each target then gets, mW at the sample."""

    laser_power_mw: float
    delivered_mw: np.ndarray
    requested_mw: np.ndarray
    spot_efficiency: np.ndarray  # hologram intensity fraction × diffraction efficiency, per target


def required_laser_power(hologram, requests_mw, geometry: SLMGeometry, limits: PowerLimits) -> LaserPowerPlan:
    """Laser power (mW at the sample) at which every target of ``hologram`` gets at least its request.

    Target k receives ``P · I_k · η_k`` with ``I_k`` the hologram's intensity fraction and ``η_k`` the
    diffraction efficiency; P is the smallest power meeting every request (a hologram made with
    :func:`power_weights` delivers all requests to within its uniformity). Raises :class:`HologramError`,
    naming the numbers, when a request, a delivered power or P exceeds ``limits``: no plan above the maxima exists.
    """
    req = positive_per_target(requests_mw, hologram.n_targets, "requested powers", "mW")
    over = np.flatnonzero(req > limits.max_power_per_target_mw)
    if over.size:
        raise HologramError(
            f"target(s) {over.tolist()} request {req[over].round(1).tolist()} mW, above the rig's maximum of "
            f"{limits.max_power_per_target_mw:g} mW per target; lower the requests")
    spot = np.asarray(hologram.intensities, dtype=np.float64) * diffraction_efficiency(hologram.targets_um, geometry)
    if not np.all(spot > 0):
        raise HologramError("the hologram puts no light on some targets; recompute it")
    laser_mw = float(np.max(req / spot))
    delivered = laser_mw * spot
    if laser_mw > limits.max_total_power_mw:
        raise HologramError(
            f"this hologram needs {laser_mw:.1f} mW of laser power for {req.sum():.1f} mW requested on "
            f"{len(req)} targets, above the rig's maximum total of {limits.max_total_power_mw:g} mW; use fewer "
            f"targets or lower requests")
    hot = np.flatnonzero(delivered > limits.max_power_per_target_mw)
    if hot.size:
        raise HologramError(
            f"target(s) {hot.tolist()} would receive {delivered[hot].round(1).tolist()} mW, above the rig's "
            f"maximum of {limits.max_power_per_target_mw:g} mW per target (the hologram's ratios differ from the "
            f"requests); recompute it with power_weights")
    return LaserPowerPlan(laser_power_mw=laser_mw, delivered_mw=delivered, requested_mw=req, spot_efficiency=spot)


def hologram_for_powers(targets_um, requests_mw, geometry: SLMGeometry, **kwargs):
    """:func:`holography.compute_phase` with weights from :func:`power_weights`; kwargs go to compute_phase."""
    from holography.engine import compute_phase  # noqa: PLC0415 - keeps this module free of the engine

    pts = np.asarray(targets_um, dtype=np.float64).reshape(-1, 3)
    return compute_phase(pts, geometry, weights=power_weights(pts, requests_mw, geometry), **kwargs)
