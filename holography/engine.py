"""Multi-target 3D phase masks by (weighted) Gerchberg–Saxton on the target points.

Method "gsw": the weighted GS of Di Leonardo, Ianni & Ruocco (2007), "Computer generation of optimal holograms
for optical trap arrays", Opt. Express 15:1913. The field is only evaluated at the K targets; each iteration the
mask is the phase of a superposition of single-target holograms, ``φ = arg Σ_k c_k exp(iθ_k)``, and the
coefficients take the phase of the field each target received and a weight that grows where the target got too
little, so the achieved intensity ratios converge on the requested ones. Method "gs": the same without the
weights (plain GS on the points, the "superposition with phase retrieval" of that paper).

Cost: θ_k is separable (see :mod:`holography.geometry`), so with ``A = exp(iβ)`` (rows × K) and
``B = exp(iα)`` (cols × K) one iteration is two dense complex64 products: ``V = (A·c) @ Bᵀ`` back to the SLM and
``E = Σ_r conj(A) ⊙ (V/|V| @ conj(B))`` to the targets, O(rows·cols·K) with no per-target full-frame exponential.
Compressive iterations (after CS-GS: Pozzi et al. 2019, "Fast calculation of computer generated holograms for 3D
photostimulation through compressive-sensing Gerchberg–Saxton algorithm", Methods Protoc. 2:2) run the early
iterations on a random sub-grid of SLM rows and columns, drawn afresh each iteration; the last iterations and
the reported figures use every pixel.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from holography.backends import get_ops
from holography.errors import HologramError
from holography.geometry import SLMGeometry
from holography.targets import DEFAULT_MIN_SEPARATION_UM, validate_targets, validate_weights

METHODS = ("gsw", "gs")
TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class Hologram:
    """A phase mask and what it is predicted to deliver.

    ``phase``: float32 radians in [0, 2π), shape = SLM (rows, cols). ``intensities``: for each target, the
    fraction of a perfect single spot's intensity it receives, |E|²/(rows·cols)² with the discrete-sum field of
    :mod:`holography.geometry`. ``weights``: the requested relative intensities (sum 1).
    """

    phase: np.ndarray
    targets_um: np.ndarray
    weights: np.ndarray
    intensities: np.ndarray
    method: str = "gsw"
    iterations: int = 0
    backend: str = "numpy"
    seed: int = 0
    info: dict = field(default_factory=dict, compare=False)

    @property
    def efficiency(self) -> float:
        """Sum over targets of the fraction of a perfect single spot's intensity (1 = all light in the spots)."""
        return float(np.sum(self.intensities))

    @property
    def uniformity(self) -> float:
        """1 − (max − min)/(max + min) of intensity ÷ requested weight (1 = ratios exactly as requested)."""
        return uniformity(self.intensities, self.weights)

    @property
    def n_targets(self) -> int:
        return len(self.targets_um)


def uniformity(intensities, weights) -> float:
    """1 − (max − min)/(max + min) of ``intensities / weights``."""
    ratio = np.asarray(intensities, dtype=np.float64) / np.asarray(weights, dtype=np.float64)
    hi, lo = ratio.max(), ratio.min()
    return float(1.0 - (hi - lo) / (hi + lo)) if hi + lo > 0 else 0.0


def compute_phase(targets_um, geometry: SLMGeometry, weights=None, iterations: int = 30, method: str = "gsw",
                  backend: str = "numpy", seed: int = 0, *, subsample: float = 1 / 3, full_iterations: int = 2,
                  min_targets: int | None = None,
                  min_separation_um: float = DEFAULT_MIN_SEPARATION_UM) -> Hologram:
    """Compute a phase mask that puts spots at 3D targets with requested relative intensities.

    Parameters
    ----------
    targets_um : (K, 3) array of (x, y, z) µm in SLM sample coordinates.
    geometry : the SLM and optics.
    weights : requested relative intensity of each target (any positive scale); None = equal.
    iterations : total iterations; the last ``full_iterations`` of them use every pixel.
    method : "gsw" (weighted GS, default) or "gs" (plain GS).
    backend : "numpy" (CPU), "cupy" or "torch" (GPU when available; optional libraries).
    seed : seeds the random starting phases of the targets and the compressive sub-grids.
    subsample : fraction of SLM rows and of columns used by the compressive iterations (1 = none).
    full_iterations : how many final iterations run on the full frame.
    min_targets, min_separation_um : see :func:`holography.targets.validate_targets`.
    """
    pts = validate_targets(targets_um, geometry, min_targets=min_targets, min_separation_um=min_separation_um)
    w = validate_weights(weights, len(pts))
    if method not in METHODS:
        raise HologramError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    iterations, full_iterations = int(iterations), int(full_iterations)
    if iterations < 0 or full_iterations < 0:
        raise HologramError(f"iterations must be ≥ 0, got {iterations} (full_iterations {full_iterations})")
    if not 0 < subsample <= 1:
        raise HologramError(f"subsample must be in (0, 1], got {subsample}")
    ops = get_ops(backend)
    rng = np.random.default_rng(seed)
    solver = _Solver(ops, geometry, pts, w, weighted=(method == "gsw"))
    coeffs = np.sqrt(w) * np.exp(1j * rng.uniform(0.0, TWO_PI, len(pts)))
    n_full = min(full_iterations, iterations)
    for it in range(iterations):
        rows_idx, cols_idx = (None, None) if it >= iterations - n_full else _subgrid(geometry.shape, subsample, rng)
        coeffs = solver.step(coeffs, rows_idx, cols_idx)
    phase, intensities = solver.finish(coeffs)
    return Hologram(phase=phase, targets_um=pts, weights=w, intensities=intensities, method=method,
                    iterations=iterations, backend=ops.name, seed=int(seed),
                    info={"subsample": float(subsample), "full_iterations": n_full})


def _subgrid(shape, fraction: float, rng: np.random.Generator):
    """Sorted random row and column indices (a fraction of each, at least 64 or all), or (None, None)."""
    if fraction >= 1:
        return None, None
    picks = []
    for n in shape:
        m = min(n, max(64, int(round(n * fraction))))
        picks.append(None if m == n else np.sort(rng.choice(n, size=m, replace=False)))
    return tuple(picks)


class _Solver:
    """Holds the separable factors on the backend's device and runs one GS/GSW iteration at a time."""

    def __init__(self, ops, geometry: SLMGeometry, pts: np.ndarray, weights: np.ndarray, weighted: bool):
        self.ops, self.weighted = ops, weighted
        rows_f, cols_f = geometry.axis_factors(pts)  # exp(iβ) rows × K, exp(iα) cols × K
        self.rows_f, self.cols_f = ops.asarray(rows_f), ops.asarray(cols_f)
        self.rows_c, self.cols_c = ops.asarray(np.conj(rows_f)), ops.asarray(np.conj(cols_f))
        self.amp = np.sqrt(weights)
        self.gain = np.ones(len(pts))

    def _slm_field(self, coeffs, rows_idx=None, cols_idx=None):
        """Σ_k c_k exp(iθ_k) on the (sub-)grid: (rows × K)·c @ (K × cols)."""
        ops = self.ops
        rows_f = self.rows_f if rows_idx is None else ops.take(self.rows_f, rows_idx)
        cols_f = self.cols_f if cols_idx is None else ops.take(self.cols_f, cols_idx)
        return (rows_f * ops.asarray(coeffs.astype(np.complex64))) @ cols_f.T

    def _target_fields(self, unit_field, rows_idx=None, cols_idx=None) -> np.ndarray:
        ops = self.ops
        rows_c = self.rows_c if rows_idx is None else ops.take(self.rows_c, rows_idx)
        cols_c = self.cols_c if cols_idx is None else ops.take(self.cols_c, cols_idx)
        return ops.to_numpy(ops.target_fields(unit_field, rows_c, cols_c)).astype(np.complex128)

    def step(self, coeffs: np.ndarray, rows_idx=None, cols_idx=None) -> np.ndarray:
        """One iteration: mask from ``coeffs``, fields at the targets, new coefficients."""
        unit = self.ops.normalize(self._slm_field(coeffs, rows_idx, cols_idx))
        fields = self._target_fields(unit, rows_idx, cols_idx)
        mag = np.maximum(np.abs(fields), 1e-30)
        if self.weighted:
            ratio = mag / self.amp
            self.gain *= ratio.mean() / ratio
            self.gain /= self.gain.mean()
        return self.amp * self.gain * fields / mag

    def finish(self, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The full-frame mask of ``coeffs`` (float32 rad in [0, 2π)) and each target's intensity fraction."""
        ops = self.ops
        field = self._slm_field(coeffs)
        phase = ops.wrapped_angle(field)
        unit = ops.normalize(field)
        fields = self._target_fields(unit)
        n_pix = unit.shape[0] * unit.shape[1]
        intensities = np.abs(fields) ** 2 / float(n_pix) ** 2
        return ops.to_numpy(phase), intensities

