"""3D calibration between imaging coordinates and SLM sample coordinates.

Seed 002 (Methods, "Calibration"): imaging and stimulation planes are neither parallel nor flat, and optical
elements add distortions worst at the edges of the field, so the mapping is fitted in 3D with a model that is not
only affine. Here: a full 3D polynomial (all monomials x^i y^j z^k with i + j + k ≤ degree, degree 3 by default)
fitted by least squares to pairs of commanded SLM positions and the positions where the spots were observed in
the imaging volume. The inverse is a second polynomial fitted the other way and refined by Newton steps on the
forward model, so ``apply(inverse(p)) == p`` to numerical precision.

Imaging coordinates are whatever three numbers the observations use (pixel row, column and plane depth in µm,
or x, y, z µm); ``imaging_units`` records which. SLM coordinates are (x, y, z) µm as in
:mod:`holography.geometry`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np

from holography.errors import HologramError
from holography.targets import as_points

_NEWTON_STEPS = 8


def _monomials(degree: int) -> np.ndarray:
    """Exponents (n_terms, 3) of every monomial of total degree ≤ ``degree`` in 3 variables."""
    terms = [e for e in product(range(degree + 1), repeat=3) if sum(e) <= degree]
    return np.array(sorted(terms, key=lambda e: (sum(e), e[::-1])), dtype=np.int64)


@dataclass
class _Poly3:
    """A vector polynomial R³ → R³ on normalised inputs ``(p − center)/scale``."""

    degree: int
    center: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_terms, 3)

    @classmethod
    def fit(cls, src: np.ndarray, dst: np.ndarray, degree: int, ridge: float) -> "_Poly3":
        center = src.mean(axis=0)
        scale = np.where(src.std(axis=0) > 0, src.std(axis=0), 1.0)
        poly = cls(degree, center, scale, np.zeros((len(_monomials(degree)), 3)))
        design = poly.design(src)
        if ridge > 0:  # Tikhonov on all but the constant term
            reg = np.sqrt(ridge) * np.eye(design.shape[1])[1:]
            design = np.vstack([design, reg])
            dst = np.vstack([dst, np.zeros((reg.shape[0], 3))])
        poly.coef = np.linalg.lstsq(design, dst, rcond=None)[0]
        return poly

    def design(self, pts: np.ndarray) -> np.ndarray:
        u = (pts - self.center) / self.scale
        exps = _monomials(self.degree)
        return np.prod(u[:, None, :] ** exps[None, :, :], axis=2)

    def __call__(self, pts: np.ndarray) -> np.ndarray:
        return self.design(pts) @ self.coef

    def to_dict(self) -> dict:
        return {"degree": self.degree, "center": self.center.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "_Poly3":
        return cls(int(d["degree"]), np.array(d["center"], float), np.array(d["scale"], float),
                   np.array(d["coef"], float))


@dataclass
class Calibration:
    """Imaging ↔ SLM mapping: :meth:`apply` imaging → SLM (x, y, z) µm, :meth:`inverse` SLM → imaging."""

    forward: _Poly3
    backward: _Poly3
    imaging_units: str = "row_px, col_px, z_um"
    residuals: dict = field(default_factory=dict)

    @classmethod
    def fit(cls, commanded_slm_um, observed_imaging, degree: int = 3, ridge: float = 1e-9,
            imaging_units: str = "row_px, col_px, z_um") -> "Calibration":
        """Fit from spots commanded at SLM positions (N × 3, µm) and observed in imaging coordinates (N × 3).

        Needs at least twice as many points as polynomial terms (20 for degree 3), spread over the volume.
        """
        slm = as_points(commanded_slm_um, "commanded positions")
        img = as_points(observed_imaging, "observed positions")
        if len(slm) != len(img):
            raise HologramError(f"{len(slm)} commanded but {len(img)} observed positions; pair them one to one")
        if not 1 <= int(degree) <= 5:
            raise HologramError(f"calibration degree must be 1–5, got {degree}")
        n_terms = len(_monomials(int(degree)))
        if len(slm) < 2 * n_terms:
            raise HologramError(
                f"a degree-{degree} calibration needs at least {2 * n_terms} point pairs, got {len(slm)}; "
                "add calibration spots or lower the degree")
        cal = cls(_Poly3.fit(img, slm, int(degree), ridge), _Poly3.fit(slm, img, int(degree), ridge),
                  imaging_units)
        cal.residuals = cal.residual_report(slm, img)
        return cal

    def apply(self, imaging) -> np.ndarray:
        """SLM (x, y, z) µm of imaging coordinates (N × 3)."""
        return self.forward(as_points(imaging, "imaging coordinates"))

    def inverse(self, slm_um) -> np.ndarray:
        """Imaging coordinates of SLM (x, y, z) µm: the backward fit refined by Newton steps on :meth:`apply`."""
        target = as_points(slm_um, "SLM coordinates")
        guess = self.backward(target)
        step = 1e-4 * self.forward.scale
        for _ in range(_NEWTON_STEPS):
            value = self.forward(guess)
            jac = np.stack([(self.forward(guess + step * e) - value) / step[i]
                            for i, e in enumerate(np.eye(3))], axis=2)  # (N, 3 out, 3 in)
            try:
                guess = guess - np.linalg.solve(jac, (value - target)[..., None])[..., 0]
            except np.linalg.LinAlgError:
                break
        return guess

    def residual_report(self, commanded_slm_um, observed_imaging) -> dict:
        """Errors of the fit on given pairs: SLM-space error of :meth:`apply`, µm (RMS, max, per-axis RMS)."""
        slm = as_points(commanded_slm_um, "commanded positions")
        err = self.apply(observed_imaging) - slm
        dist = np.linalg.norm(err, axis=1)
        back = self.inverse(slm) - as_points(observed_imaging, "observed positions")
        return {"n_points": int(len(slm)), "degree": self.forward.degree,
                "rms_um": float(np.sqrt(np.mean(dist ** 2))), "max_um": float(dist.max()),
                "rms_xyz_um": np.sqrt(np.mean(err ** 2, axis=0)).tolist(),
                "inverse_rms_imaging": np.sqrt(np.mean(back ** 2, axis=0)).tolist()}

    # -------------------------------------------------------------------------------------------- files
    def to_dict(self) -> dict:
        return {"kind": "holostim-calibration", "version": 1, "imaging_units": self.imaging_units,
                "forward": self.forward.to_dict(), "backward": self.backward.to_dict(),
                "residuals": self.residuals}

    def save(self, path) -> Path:
        """Write the calibration as JSON (written to a temporary file first, so no half-written file is left)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def from_dict(cls, data: dict) -> "Calibration":
        """The inverse of :meth:`to_dict` (raises KeyError/ValueError/TypeError on a malformed dict)."""
        if data.get("kind") != "holostim-calibration":
            raise KeyError("kind")
        return cls(_Poly3.from_dict(data["forward"]), _Poly3.from_dict(data["backward"]),
                   data.get("imaging_units", ""), data.get("residuals", {}))

    @classmethod
    def load(cls, path) -> "Calibration":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise HologramError(f"calibration file {path} does not exist") from None
        except (ValueError, KeyError, TypeError) as err:
            raise HologramError(f"{path} is not a holostim calibration file ({err})") from None
