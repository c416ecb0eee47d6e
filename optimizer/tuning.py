"""Orientation tuning from direction responses: PO, OO and OSI as defined in seed 002, "Online analysis".

Seed 002: "PO was calculated as the maximum mean response to oriented gratings, OO as the mean response to a
grating of orthogonal orientation, and OSI = (PO − OO)/(PO + OO)". Drifting gratings are shown in directions
[0, 360); an *orientation* is a direction modulo 180°. We fold the direction curve into an orientation curve by
averaging the two directions of each orientation (θ and θ + 180°), so a direction-selective cell is not
mistaken for an orientation-selective one. Responses are clipped at 0 before folding: a suppressed response is
"no response" for selectivity, which keeps OSI in [0, 1] (with negative OO the index exceeds 1, and with PO + OO
near 0 it explodes). A curve that is 0 everywhere has OSI 0.

The orientation of a curve (``orientation_deg``) is continuous: half the angle of the vector sum
Σ_k R(θ_k)·exp(2iθ_k) (the gOSI direction of seed 000). Seed 002's PO is the argmax orientation, which with
eight directions is quantized to 45°; the vector sum lets ensembles aim at any target orientation.
"""
from __future__ import annotations

import numpy as np

from .errors import OptimizerError


def orientation_layout(directions_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map directions to orientations: ``(orientations_deg (K,), fold (D, K) averaging matrix)``.

    Every direction must have its opposite (θ + 180°) and every orientation its orthogonal (θ + 90°), so that PO,
    OO and the folded curve are defined; the seed-002 set 0, 45, …, 315° satisfies both.
    """
    directions = np.mod(np.asarray(directions_deg, dtype=float), 360.0)
    orientations = np.unique(np.round(np.mod(directions, 180.0), 6))
    for d in directions:
        if not np.any(np.isclose(np.mod(directions - d, 360.0), 180.0)):
            raise OptimizerError(
                f"direction {d:g}° has no opposite direction ({(d + 180) % 360:g}°) among the resp_* columns; "
                "give both directions of every orientation")
    for o in orientations:
        if not np.any(np.isclose(np.mod(orientations - o, 180.0), 90.0)):
            raise OptimizerError(
                f"orientation {o:g}° has no orthogonal orientation ({(o + 90) % 180:g}°) among the resp_* columns; "
                "OSI needs the response to the orthogonal grating")
    fold = np.isclose(np.mod(directions[:, None], 180.0), orientations[None, :]).astype(float)
    fold /= fold.sum(axis=0, keepdims=True)
    return orientations, fold


def orthogonal_index(orientations_deg: np.ndarray) -> np.ndarray:
    """For each orientation k, the index of the orientation 90° away."""
    o = np.asarray(orientations_deg, dtype=float)
    diff = np.mod(o[None, :] - o[:, None], 180.0)
    return np.argmin(np.abs(diff - 90.0), axis=1)


def osi(curves: np.ndarray, ortho: np.ndarray) -> np.ndarray:
    """Seed-002 OSI of orientation curves (..., K) with non-negative values: (PO − OO)/(PO + OO), 0 for flat-zero.

    PO is the largest response, OO the response at the orthogonal orientation.
    """
    curves = np.asarray(curves, dtype=float)
    k = np.argmax(curves, axis=-1)
    po = np.take_along_axis(curves, k[..., None], axis=-1)[..., 0]
    oo = np.take_along_axis(curves, ortho[k][..., None], axis=-1)[..., 0]
    return np.abs(po - oo) / (po + oo + 1e-300)


def orientation_phasors(orientations_deg: np.ndarray) -> np.ndarray:
    """exp(2iθ_k) for the vector-sum orientation."""
    return np.exp(2j * np.deg2rad(np.asarray(orientations_deg, dtype=float)))


def vector_orientation_deg(curves: np.ndarray, phasors: np.ndarray) -> np.ndarray:
    """Orientation of curves (..., K), degrees in [0, 180): half the angle of Σ R_k·exp(2iθ_k)."""
    z = curves @ phasors
    return np.mod(np.rad2deg(np.angle(z)) / 2.0, 180.0)


def angular_distance_deg(a, b) -> np.ndarray:
    """Distance between orientations, degrees in [0, 90]."""
    d = np.mod(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), 180.0)
    return np.minimum(d, 180.0 - d)
