"""Orientation tuning from direction responses: PO, OO and OSI as defined in seed 002, "Online analysis".

Seed 002: "PO was calculated as the maximum mean response to oriented gratings, OO as the mean response to a
grating of orthogonal orientation, and OSI = (PO − OO)/(PO + OO)". One definition for the whole product (the
online analysis and the simulator use the same), on the curve over grating directions (0, 45, …, 315°):

* the curve is rectified at 0 (a negative mean response is "no response" for selectivity; with a negative OO
  the index would exceed 1, and with PO + OO near 0 it would explode);
* PO = the largest rectified value, at the direction of the maximal mean response (ties: the first direction);
* OO = the mean of the rectified values at the two directions orthogonal to the peak (peak ± 90°);
* OSI = (PO − OO)/(PO + OO) ∈ [0, 1]; 0 for a curve that is ≤ 0 everywhere (the online analysis reports NaN
  there; for choosing cells "no response" is simply unselective).

Ensemble OSI (seed 002, "Offline analysis") is the OSI of the MEAN of the members' raw curves (averaged first,
then rectified); OSI is scale-free, so the search works on sums of raw curves.

The orientation of a curve (``orientation_deg``) is continuous: half the angle of the vector sum
Σ_d R(θ_d)·exp(2iθ_d) over directions of the rectified curve (the gOSI direction of seed 000). Seed 002's PO is
quantized to the 45° grid; the vector sum lets ensembles aim at any target orientation.
"""
from __future__ import annotations

import numpy as np

from .errors import OptimizerError


def _orthogonal_columns(directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each direction, the column of the direction +90° and of the one −90° (exact matches, else an error)."""
    d = np.mod(directions, 360.0)
    diff = np.mod(d[None, :] - d[:, None], 360.0)       # [i, j]: direction j relative to direction i
    plus, minus = np.isclose(diff, 90.0), np.isclose(diff, 270.0)
    for i in range(len(d)):
        if not plus[i].any() or not minus[i].any():
            missing = (d[i] + 90.0) % 360 if not plus[i].any() else (d[i] - 90.0) % 360
            raise OptimizerError(
                f"direction {d[i]:g}° has no orthogonal direction ({missing:g}°) among the resp_* columns; OSI needs "
                "the responses at the peak direction ± 90°: give directions such as 0, 45, …, 315")
    return np.argmax(plus, axis=1), np.argmax(minus, axis=1)


def check_directions(directions_deg) -> np.ndarray:
    """Directions (degrees) as a sorted float array in [0, 360), with every direction's ± 90° present.

    Such a set is closed under rotation by 90° (so also by 180°): with D sorted directions, the direction of
    column i + D/4 is 90° on from column i and column i + D/2 is the opposite one, which the search relies on.
    """
    d = np.mod(np.asarray(directions_deg, dtype=float), 360.0)
    if d.ndim != 1 or d.size < 4 or len(np.unique(np.round(d, 6))) != d.size:
        raise OptimizerError(f"need at least 4 distinct grating directions, got {np.asarray(directions_deg).tolist()}")
    _orthogonal_columns(d)
    return np.sort(d)


def osi_of_direction_curves(curves, directions_deg) -> np.ndarray:
    """Seed-002 OSI of direction tuning curves (n × D, or one curve of D), as defined in the module docstring.

    ``directions_deg`` gives each column's direction of motion; every direction's ± 90° must be among them.
    Returns n OSIs in [0, 1] (0 for a curve ≤ 0 everywhere). Peak ties go to the first column.
    """
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    directions = np.asarray(directions_deg, dtype=float)
    if curves.shape[1] != directions.size:
        raise OptimizerError(f"tuning curves have {curves.shape[1]} directions but {directions.size} were given")
    plus, minus = _orthogonal_columns(directions)
    rect = np.maximum(curves, 0.0)
    peak = np.argmax(curves, axis=1)
    rows = np.arange(len(curves))
    po = rect[rows, peak]
    oo = 0.5 * (rect[rows, plus[peak]] + rect[rows, minus[peak]])
    total = po + oo
    return np.where(total > 0, (po - oo) / np.where(total > 0, total, 1.0), 0.0)


def peak_orientation_deg(curves, directions_deg) -> np.ndarray:
    """Seed-002 PO as an orientation: the direction of the largest mean response (first on ties), mod 180°."""
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    return np.mod(np.asarray(directions_deg, dtype=float)[np.argmax(curves, axis=1)], 180.0)


def direction_phasors(directions_deg: np.ndarray) -> np.ndarray:
    """exp(2iθ_d) for the vector-sum orientation (opposite directions share a phasor)."""
    return np.exp(2j * np.deg2rad(np.asarray(directions_deg, dtype=float)))


def vector_orientation_deg(curves: np.ndarray, directions_deg: np.ndarray) -> np.ndarray:
    """Orientation of direction curves (..., D), degrees in [0, 180): half the angle of Σ R_d·exp(2iθ_d) with
    R the rectified curve."""
    z = np.maximum(np.asarray(curves, dtype=float), 0.0) @ direction_phasors(directions_deg)
    return np.mod(np.rad2deg(np.angle(z)) / 2.0, 180.0)


def angular_distance_deg(a, b) -> np.ndarray:
    """Distance between orientations, degrees in [0, 90]."""
    d = np.mod(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), 180.0)
    return np.minimum(d, 180.0 - d)
