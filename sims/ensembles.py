"""Draw ten-cell ensembles with seed 002's rules, for rehearsals on the simulator.

Rules (seed 002, "Discrete optimizer" and "Offline analysis"): eligible cells express the opsin and are stimmable
within the power test (≤ 100 mW); no two cells of an ensemble closer than 30 µm (3D); spread = mean pairwise 3D
distance, compact < 200 µm, diffuse > 200 µm; cotuned = ensemble OSI > 0.7 and mean member OSI > 0.5; untuned =
ensemble OSI < 0.3 and mean member OSI < 0.5. Ensemble OSI is the OSI of the members' mean tuning curve.

This is a rejection sampler (fast, seeded), not the discrete optimizer of the ``optimizer`` package.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

from .errors import SimError
from .population import DIRECTIONS_DEG, Population, osi_of_curves

KINDS = ("random", "compact", "diffuse", "cotuned", "untuned")
SPREAD_BOUNDARY_UM = 200.0


def spread_um(xyz_um: np.ndarray) -> float:
    """Mean pairwise 3D distance of the targets, µm."""
    return float(pdist(xyz_um).mean()) if len(xyz_um) > 1 else 0.0


def ensemble_osi(curves: np.ndarray) -> float:
    """OSI of the members' mean tuning curve."""
    return float(osi_of_curves(curves.mean(axis=0, keepdims=True), DIRECTIONS_DEG)[0])


def ensemble_orientation_deg(curves: np.ndarray) -> float:
    """Preferred orientation of the members' mean tuning curve (vector average of orientation responses)."""
    mean = curves.mean(axis=0)
    z = np.sum(mean * np.exp(2j * np.deg2rad(DIRECTIONS_DEG)))
    return float(np.mod(np.rad2deg(np.angle(z)) / 2.0, 180.0))


class EnsembleDrawer:
    """Draws ensembles of one kind from a population's eligible cells."""

    def __init__(self, population: Population, seed: int, size: int = 10, min_distance_um: float = 30.0,
                 max_power_mw: float = 100.0):
        if size < 3:
            raise SimError(f"an ensemble needs at least 3 cells (seed 002), got {size}")
        self.pop = population
        self.size = size
        self.min_distance_um = min_distance_um
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), 5]))
        self.curves = population.tuning_curve()
        self.osi = population.osi
        self.eligible = np.flatnonzero(population.opsin & (population.stimmable_power_mw <= max_power_mw))
        if len(self.eligible) < size:
            raise SimError(f"only {len(self.eligible)} eligible cells; need {size}")

    def _pick(self, pool: np.ndarray, center=None, radius_um=None) -> np.ndarray | None:
        """Up to ``size`` cells from ``pool`` in random order, respecting the minimum distance."""
        xyz = self.pop.xyz_um
        if center is not None:
            pool = pool[np.hypot(*(xyz[pool, :2] - xyz[center, :2]).T) < radius_um]
        chosen: list[int] = []
        for c in self.rng.permutation(pool):
            if all(np.linalg.norm(xyz[c] - xyz[o]) >= self.min_distance_um for o in chosen):
                chosen.append(int(c))
                if len(chosen) == self.size:
                    return np.array(chosen)
        return None

    def _accept(self, cells: np.ndarray, kind: str, spatial: str) -> bool:
        spread = spread_um(self.pop.xyz_um[cells])
        if spatial == "compact" and spread >= SPREAD_BOUNDARY_UM:
            return False
        if spatial == "diffuse" and spread <= SPREAD_BOUNDARY_UM:
            return False
        eo, mo = ensemble_osi(self.curves[cells]), float(self.osi[cells].mean())
        if kind == "cotuned":
            return eo > 0.7 and mo > 0.5
        if kind == "untuned":
            return eo < 0.3 and mo < 0.5
        return True

    def draw(self, kind: str, spatial: str = "any", attempts: int = 2000) -> np.ndarray:
        """Indices of one ensemble of ``kind`` (random, compact, diffuse, cotuned, untuned)."""
        if kind not in KINDS:
            raise SimError(f"unknown ensemble kind {kind!r}; choose one of {', '.join(KINDS)}")
        if kind in ("compact", "diffuse"):
            spatial = kind
        if spatial not in ("any", "compact", "diffuse"):
            raise SimError(f"spatial must be any, compact or diffuse, got {spatial!r}")
        pool = self.eligible
        po = self.pop.po_deg
        for _ in range(attempts):
            sub = pool
            if kind == "cotuned":
                theta = self.rng.uniform(0.0, 180.0)
                dist = np.abs((po[pool] - theta + 90.0) % 180.0 - 90.0)
                sub = pool[(self.osi[pool] > 0.4) & (dist < 20.0)]
            elif kind == "untuned":
                sub = pool[self.osi[pool] < 0.5]
            center = radius = None
            if spatial == "compact":
                # a disc of radius R has a mean pairwise distance of ≈ 0.9 R: room to stay under 200 µm
                center = int(self.rng.choice(sub)) if len(sub) else None
                radius = 200.0 if kind == "cotuned" else 150.0
                if center is None:
                    continue
            cells = self._pick(sub, center, radius)
            if cells is not None and self._accept(cells, kind, spatial):
                return cells
        raise SimError(f"could not draw a {spatial} {kind} ensemble of {self.size} cells in {attempts} attempts; "
                       "use a denser population or a looser rule")
