"""The simulator's true imaging ↔ SLM mapping, hidden from the rig (its calibration routine must recover it).

Imaging coordinates: (x, y, z) µm with x, y from the FOV's top-left pixel centre (x = col_px · µm/px,
y = row_px · µm/px) and z relative to the nominal focal plane. SLM coordinates: (x, y, z) µm in the sample
relative to the SLM's optical axis (the convention of :mod:`holography.geometry`).

The mapping is a small rotation, anisotropic scale and offset of the FOV centre, plus a smooth nonlinear
distortion (quadratic and cubic lateral terms, field curvature and a depth-dependent lateral drift) whose largest
displacement over the FOV is about ``distortion_um``: the kind of misalignment seed 002 ("Calibration") corrects
with its 3D calibration. All terms are polynomials of degree ≤ 3, so a degree-3 fit recovers them exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SimError


@dataclass(frozen=True)
class HiddenMapping:
    """Imaging (µm) → SLM (µm) and back (Newton-inverted)."""

    center_um: np.ndarray       #: FOV centre in imaging coordinates (x, y)
    rotation_rad: float
    scale_xy: np.ndarray        #: (sx, sy)
    offset_um: np.ndarray       #: (x, y, z) SLM position of the FOV centre at z = 0
    z_scale: float
    quad: np.ndarray            #: (2, 3) coefficients of u², uv, v² for x and y
    cubic: np.ndarray           #: (2,) radial cubic coefficient r²·(u, v)
    curvature: float            #: z shift per (r/half-FOV)²
    tilt_per_um: np.ndarray     #: (2,) lateral shift per µm of z
    half_fov_um: float

    def to_slm(self, xyz_um) -> np.ndarray:
        """SLM (x, y, z) µm of imaging (x, y, z) µm points (N × 3)."""
        p = np.atleast_2d(np.asarray(xyz_um, dtype=np.float64))
        if p.shape[1] != 3:
            raise SimError(f"points must be (x, y, z) rows, got shape {p.shape}")
        u = (p[:, 0] - self.center_um[0]) / self.half_fov_um
        v = (p[:, 1] - self.center_um[1]) / self.half_fov_um
        c, s = np.cos(self.rotation_rad), np.sin(self.rotation_rad)
        x = self.half_fov_um * self.scale_xy[0] * (c * u - s * v)
        y = self.half_fov_um * self.scale_xy[1] * (s * u + c * v)
        mono = np.stack([u * u, u * v, v * v])
        r2 = u * u + v * v
        x = x + self.quad[0] @ mono + self.cubic[0] * r2 * u + self.tilt_per_um[0] * p[:, 2]
        y = y + self.quad[1] @ mono + self.cubic[1] * r2 * v + self.tilt_per_um[1] * p[:, 2]
        z = self.z_scale * p[:, 2] + self.curvature * r2
        return np.column_stack([x, y, z]) + self.offset_um

    def to_imaging(self, slm_um, iterations: int = 8) -> np.ndarray:
        """Imaging (x, y, z) µm of SLM points (Newton iterations on :meth:`to_slm`, numerical Jacobian)."""
        target = np.atleast_2d(np.asarray(slm_um, dtype=np.float64))
        guess = target - self.offset_um
        guess = np.column_stack([guess[:, 0] + self.center_um[0], guess[:, 1] + self.center_um[1], guess[:, 2]])
        h = 1e-3
        for _ in range(iterations):
            f0 = self.to_slm(guess)
            jac = np.stack([(self.to_slm(guess + h * e) - f0) / h for e in np.eye(3)], axis=2)
            guess = guess - np.linalg.solve(jac, (f0 - target)[..., None])[..., 0]
        return guess


def make_mapping(fov_um, distortion_um: float, seed: int) -> HiddenMapping:
    """Draw a hidden mapping for a FOV ``(height, width)`` µm (deterministic for ``seed``)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 3]))
    half = max(fov_um) / 2.0
    d = float(distortion_um)
    return HiddenMapping(
        center_um=np.array([fov_um[1] / 2.0, fov_um[0] / 2.0]),
        rotation_rad=float(np.deg2rad(rng.normal(0.0, 0.5))),
        scale_xy=1.0 + rng.normal(0.0, 0.01, 2),
        offset_um=np.array([rng.normal(0.0, 5.0), rng.normal(0.0, 5.0), rng.normal(0.0, 2.0)]),
        z_scale=1.0 + rng.normal(0.0, 0.02),
        quad=rng.normal(0.0, d / 3.0, (2, 3)), cubic=rng.normal(0.0, d / 3.0, 2),
        curvature=float(rng.normal(0.0, d / 2.0)), tilt_per_um=rng.normal(0.0, 0.01, 2),
        half_fov_um=half)
