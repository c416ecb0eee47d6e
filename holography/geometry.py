"""SLM geometry and the paraxial Fourier-holography phase of a single target.

Convention (used by every function of this package): SLM pixel ``(r, c)`` has its centre at
``X = (c − (cols−1)/2)·pitch`` and ``Y = (r − (rows−1)/2)·pitch`` µm from the SLM centre. Sample ``x`` runs along
SLM columns (X) and ``y`` along SLM rows (Y); ``z`` is the defocus from the focal plane, µm. The phase that puts a
single spot at ``(x, y, z)`` is

    θ(X, Y) = 2π/(λ f) · (x·X + y·Y) + π z/(λ f²) · (X² + Y²)          [rad]

and the field that a mask φ makes at ``(x, y, z)`` is the discrete sum ``E = Σ exp(i(φ − θ))`` over the pixels,
so ``|E|²/(rows·cols)²`` is the fraction of a perfect single spot's intensity the point receives. ``θ`` is
separable: ``θ = α(X) + β(Y)`` with ``α = 2π x X/(λ f) + π z X²/(λ f²)`` (and the same for ``β`` with ``y, Y``),
which is what makes the engine a few dense matrix products per iteration.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from holography.errors import HologramError


@dataclass(frozen=True)
class SLMGeometry:
    """A phase-only SLM in a paraxial Fourier-holography path.

    Parameters
    ----------
    shape : (rows, cols) of SLM pixels (seed 002: Meadowlark HSP1920, 1152 × 1920).
    pitch_um : pixel pitch, µm.
    wavelength_um : stimulation wavelength in the medium, µm.
    focal_length_um : effective focal length of the SLM → sample Fourier transform, in sample space, µm.
    pixel_fill_fraction : active fraction of a pixel's pitch; sets the width of the sinc² efficiency envelope.
    defocus_sigma_um : σ of the Gaussian loss of diffraction efficiency with defocus z, µm.
    min_targets : fewest targets a hologram may have (seed 002 Methods, "Calibration": at least three).
    bit_depth : device levels, 8 or 16 bits.
    """

    shape: tuple[int, int]
    pitch_um: float
    wavelength_um: float
    focal_length_um: float
    pixel_fill_fraction: float = 1.0
    defocus_sigma_um: float = 300.0
    min_targets: int = 3
    bit_depth: int = 8

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != 2 or min(shape) < 2:
            raise HologramError(f"SLM shape must be (rows, cols) of at least 2 × 2 pixels, got {self.shape}")
        object.__setattr__(self, "shape", shape)
        for name in ("pitch_um", "wavelength_um", "focal_length_um", "defocus_sigma_um"):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value <= 0:
                raise HologramError(f"SLM {name} must be a positive number, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        if not 0 < float(self.pixel_fill_fraction) <= 1:
            raise HologramError(f"pixel_fill_fraction must be in (0, 1], got {self.pixel_fill_fraction!r}")
        if int(self.min_targets) < 1:
            raise HologramError(f"min_targets must be at least 1, got {self.min_targets!r}")
        if int(self.bit_depth) not in (8, 16):
            raise HologramError(f"bit_depth must be 8 or 16, got {self.bit_depth!r}")

    # ------------------------------------------------------------------------------------------ constructors
    @classmethod
    def from_slm_config(cls, shape, pitch_um, wavelength_um, focal_length_um, *, bit_depth=8, min_targets=3,
                        pixel_fill_fraction=1.0, defocus_sigma_um=300.0) -> "SLMGeometry":
        """Build from the plain numbers of a rig profile's ``slm`` section (no dependency on the rig package)."""
        return cls(shape=tuple(shape), pitch_um=pitch_um, wavelength_um=wavelength_um,
                   focal_length_um=focal_length_um, pixel_fill_fraction=pixel_fill_fraction,
                   defocus_sigma_um=defocus_sigma_um, min_targets=min_targets, bit_depth=bit_depth)

    @classmethod
    def from_rig_slm(cls, slm: Any) -> "SLMGeometry":
        """Build from a rig profile's ``slm`` section: an object with those attributes or a mapping (YAML dict)."""
        def get(obj, key, default=None):
            if isinstance(obj, Mapping):
                return obj.get(key, default)
            return getattr(obj, key, default)

        efficiency = get(slm, "efficiency", None) or {}
        missing = [k for k in ("shape", "pitch_um", "wavelength_um", "focal_length_um") if get(slm, k) is None]
        if missing:
            raise HologramError(f"the slm section lacks {', '.join(missing)}")
        return cls.from_slm_config(
            get(slm, "shape"), get(slm, "pitch_um"), get(slm, "wavelength_um"), get(slm, "focal_length_um"),
            bit_depth=get(slm, "bit_depth", 8), min_targets=get(slm, "min_targets", 3),
            pixel_fill_fraction=get(efficiency, "pixel_fill_fraction", 1.0),
            defocus_sigma_um=get(efficiency, "defocus_sigma_um", 300.0))

    # ------------------------------------------------------------------------------------------ derived numbers
    @property
    def n_pixels(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def reachable_half_field_um(self) -> float:
        """Largest |x| or |y| a hologram can reach, λf/(2·pitch), µm (the SLM's Nyquist limit)."""
        return self.wavelength_um * self.focal_length_um / (2.0 * self.pitch_um)

    @property
    def max_defocus_um(self) -> float:
        """Largest |z| whose defocus phase is still sampled without aliasing at the SLM's edge, µm.

        The local spatial frequency of π z X²/(λ f²) at the edge X_max must stay below the Nyquist limit
        π/pitch, so |z| ≤ λ f² / (2 · pitch · X_max) with X_max the half-width of the longer SLM side.
        """
        half_width_um = max(self.shape) * self.pitch_um / 2.0
        return self.wavelength_um * self.focal_length_um ** 2 / (2.0 * self.pitch_um * half_width_um)

    @property
    def spot_size_um(self) -> tuple[float, float]:
        """Diffraction-limited lateral spot width (first zero) along y and x, λf/(N·pitch), µm."""
        lf = self.wavelength_um * self.focal_length_um
        return (lf / (self.shape[0] * self.pitch_um), lf / (self.shape[1] * self.pitch_um))

    def pixel_coords_um(self) -> tuple[np.ndarray, np.ndarray]:
        """(Y of each row, X of each column), µm from the SLM centre, float64."""
        rows, cols = self.shape
        y_um = (np.arange(rows) - (rows - 1) / 2.0) * self.pitch_um
        x_um = (np.arange(cols) - (cols - 1) / 2.0) * self.pitch_um
        return y_um, x_um

    # ------------------------------------------------------------------------------------------ phases
    def axis_phases(self, points_um: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The separable parts of the single-target phase of each point, float64 radians.

        Returns ``beta`` (rows × K) and ``alpha`` (cols × K) with θ_k(r, c) = beta[r, k] + alpha[c, k].
        """
        pts = np.asarray(points_um, dtype=np.float64).reshape(-1, 3)
        y_um, x_um = self.pixel_coords_um()
        lf = self.wavelength_um * self.focal_length_um
        lin = 2.0 * np.pi / lf
        quad = np.pi / (lf * self.focal_length_um)
        alpha = lin * np.outer(x_um, pts[:, 0]) + quad * np.outer(x_um ** 2, pts[:, 2])
        beta = lin * np.outer(y_um, pts[:, 1]) + quad * np.outer(y_um ** 2, pts[:, 2])
        return beta, alpha

    def axis_factors(self, points_um: np.ndarray, dtype=np.complex64) -> tuple[np.ndarray, np.ndarray]:
        """``exp(i·beta)`` (rows × K) and ``exp(i·alpha)`` (cols × K) of :meth:`axis_phases`."""
        beta, alpha = self.axis_phases(points_um)
        return np.exp(1j * beta).astype(dtype), np.exp(1j * alpha).astype(dtype)

    def single_target_phase(self, point_um) -> np.ndarray:
        """Full-frame phase (rows × cols, float64 rad, not wrapped) that makes one perfect spot at ``point_um``."""
        beta, alpha = self.axis_phases(np.asarray(point_um, dtype=np.float64).reshape(1, 3))
        return beta[:, 0][:, None] + alpha[:, 0][None, :]
