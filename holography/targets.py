"""Checks on target lists and weights, before any computation: every error says what to change."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from holography.errors import HologramError
from holography.geometry import SLMGeometry

#: Two targets closer than this (3D distance, µm) are refused: their spots (≈1 µm wide laterally on the
#: seed-002 SLM, several µm axially) would merge, so neither would get its requested power.
DEFAULT_MIN_SEPARATION_UM = 2.0


def as_points(points, name: str) -> np.ndarray:
    """``points`` as a float64 (N, 3) array of (x, y, z), or :class:`HologramError` naming ``name``."""
    try:
        pts = np.array(points, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise HologramError(f"{name} must be numbers (x, y, z) µm: {err}") from None
    if pts.ndim == 1 and pts.size == 3:
        pts = pts.reshape(1, 3)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise HologramError(f"{name} must be an array of (x, y, z) µm rows, got shape {pts.shape}")
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise HologramError(f"{name} {np.flatnonzero(bad).tolist()} contain NaN or inf; give finite µm values")
    return pts


def positive_per_target(values, n_targets: int, what: str, unit: str = "", each: str = "") -> np.ndarray:
    """One finite, positive number per target (float64), or :class:`HologramError` saying what to change."""
    try:
        v = np.array(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise HologramError(f"{what} must be numbers{' in ' + unit if unit else ''}: {err}") from None
    if v.size != n_targets:
        raise HologramError(f"got {v.size} {what} for {n_targets} targets; give one {each + ' ' if each else ''}"
                            "per target")
    bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
    if bad.size:
        raise HologramError(
            f"{what} must be finite and positive; target {int(bad[0])} has {v[bad[0]]!r}{' ' + unit if unit else ''}. "
            f"Leave a target out instead of giving it zero")
    return v


def validate_targets(targets_um, geometry: SLMGeometry, *, min_targets: int | None = None,
                     min_separation_um: float = DEFAULT_MIN_SEPARATION_UM) -> np.ndarray:
    """Return the targets as a float64 (K, 3) array of (x, y, z) µm, or raise :class:`HologramError`.

    Refused: a wrong shape, NaN/inf, fewer than ``min_targets`` (default: ``geometry.min_targets``), a target
    outside the reachable field |x|, |y| ≤ λf/(2·pitch) or beyond the sampled defocus range, duplicates and
    targets closer than ``min_separation_um``.
    """
    pts = as_points(targets_um, "targets")
    needed = geometry.min_targets if min_targets is None else int(min_targets)
    if len(pts) < needed:
        raise HologramError(
            f"a hologram needs at least {needed} targets (got {len(pts)}); add targets or lower slm.min_targets")
    _check_reach(pts, geometry)
    _check_spacing(pts, min_separation_um)
    return pts


def _check_reach(pts: np.ndarray, geometry: SLMGeometry) -> None:
    half = geometry.reachable_half_field_um
    out = np.flatnonzero(np.abs(pts[:, :2]).max(axis=1) > half)
    if out.size:
        k = int(out[0])
        raise HologramError(
            f"{out.size} target(s) outside the reachable field |x|, |y| ≤ λf/(2·pitch) = {half:.1f} µm, "
            f"e.g. target {k} at ({pts[k, 0]:.1f}, {pts[k, 1]:.1f}) µm; move them inward")
    zmax = geometry.max_defocus_um
    deep = np.flatnonzero(np.abs(pts[:, 2]) > zmax)
    if deep.size:
        k = int(deep[0])
        raise HologramError(
            f"{deep.size} target(s) beyond the SLM's defocus range |z| ≤ {zmax:.1f} µm, e.g. target {k} at "
            f"z = {pts[k, 2]:.1f} µm; bring them closer to the focal plane")


def _check_spacing(pts: np.ndarray, min_separation_um: float) -> None:
    pairs = cKDTree(pts).query_pairs(max(float(min_separation_um), 0.0), output_type="ndarray")
    exact = cKDTree(pts).query_pairs(0.0, output_type="ndarray") if len(pairs) else pairs
    if len(exact):
        i, j = (int(v) for v in exact[0])
        raise HologramError(f"targets {i} and {j} are duplicates at {pts[i].tolist()} µm; remove one")
    if len(pairs):
        i, j = (int(v) for v in pairs[0])
        dist = float(np.linalg.norm(pts[i] - pts[j]))
        raise HologramError(
            f"targets {i} and {j} are {dist:.2f} µm apart, closer than the minimum separation "
            f"{min_separation_um:g} µm; merge them or move one")


def validate_weights(weights, n_targets: int) -> np.ndarray:
    """Requested relative intensities: ``None`` → equal; else K finite positive numbers, returned summing to 1."""
    if weights is None:
        return np.full(n_targets, 1.0 / n_targets)
    w = positive_per_target(weights, n_targets, "weights", each="weight")
    return w / w.sum()
