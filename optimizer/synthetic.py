"""Seeded synthetic tables of eligible cells, shaped like seed 002's fields of view, for tests and benchmarks.

Geometry (seed 002, "Calcium imaging"): three 800 × 800 µm planes 30 µm apart, x and y centred on the optical
axis; somata at least ``min_spacing_um`` apart within a plane. Tuning: a responsive cell's direction curve is a
double von Mises (the two lobes 180° apart, as fitted in seed 000) plus Gaussian trial-mean noise; tuned cells
have concentration κ in [1, 4], untuned responsive cells κ in [0, 0.4]; unresponsive cells are noise around 0.
Preferred orientations are independent of position (mouse V1 is salt-and-pepper). Stimmable power is a
power-test level, 12.5–100 mW in 12.5-mW steps (seed 002, "Holographic stimulation"), low levels more common.
"""
from __future__ import annotations

import numpy as np

DIRECTIONS_DEG = np.arange(0, 360, 45)
POWER_LEVELS_MW = np.arange(12.5, 100.1, 12.5)


def synthetic_cells(n_cells: int = 1000, *, seed: int = 0, fov_um: float = 800.0,
                    planes_z_um=(-30.0, 0.0, 30.0), min_spacing_um: float = 12.0,
                    responsive_fraction: float = 0.6, tuned_fraction: float = 0.6, noise: float = 0.1,
                    directions_deg=DIRECTIONS_DEG):
    """A pandas DataFrame with the optimizer's input columns (``id, x_um, …, resp_0 … resp_315``)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    xyz = _positions(rng, n_cells, fov_um, np.asarray(planes_z_um, dtype=float), min_spacing_um)
    responsive = rng.random(n_cells) < responsive_fraction
    tuned = responsive & (rng.random(n_cells) < tuned_fraction)
    kappa = np.where(tuned, rng.uniform(1.0, 4.0, n_cells), rng.uniform(0.0, 0.4, n_cells))
    pref_rad = rng.uniform(0.0, 2 * np.pi, n_cells)
    null_ratio = rng.uniform(0.3, 1.0, n_cells)       # second lobe relative to the first (direction bias)
    amplitude = np.where(responsive, rng.lognormal(np.log(0.5), 0.4, n_cells), 0.0)
    theta = np.deg2rad(np.asarray(directions_deg, dtype=float))[None, :]
    lobe = lambda mu: np.exp(kappa[:, None] * (np.cos(theta - mu[:, None]) - 1.0))  # noqa: E731
    curve = amplitude[:, None] * (lobe(pref_rad) + null_ratio[:, None] * lobe(pref_rad + np.pi)) / 2.0
    scale = np.where(responsive, amplitude, 0.3)[:, None] * noise + 0.02
    resp = curve + rng.normal(0.0, 1.0, curve.shape) * scale
    power = rng.choice(POWER_LEVELS_MW, n_cells, p=_power_weights())
    uses = rng.poisson(0.2, n_cells)
    frame = pd.DataFrame({"id": np.arange(n_cells), "x_um": xyz[:, 0], "y_um": xyz[:, 1], "z_um": xyz[:, 2],
                          "responsive": responsive, "power_mw": power, "uses": uses})
    for j, d in enumerate(directions_deg):
        frame[f"resp_{int(d)}"] = resp[:, j]
    return frame


def _power_weights() -> np.ndarray:
    w = np.exp(-np.arange(len(POWER_LEVELS_MW)) / 3.0)
    return w / w.sum()


def _positions(rng, n_cells: int, fov_um: float, planes_z_um: np.ndarray, min_spacing_um: float) -> np.ndarray:
    """Uniform somata in the planes, no two in one plane closer than ``min_spacing_um`` (dart throwing)."""
    half = fov_um / 2.0
    kept: list[np.ndarray] = []
    per_plane = np.full(len(planes_z_um), n_cells // len(planes_z_um))
    per_plane[: n_cells % len(planes_z_um)] += 1
    for z, count in zip(planes_z_um, per_plane):
        accepted = np.empty((0, 2))
        while len(accepted) < count:
            cand = rng.uniform(-half, half, (4 * count, 2))
            for p in cand:
                if len(accepted) and np.min(np.sum((accepted - p) ** 2, axis=1)) < min_spacing_um ** 2:
                    continue
                accepted = np.vstack([accepted, p])
                if len(accepted) == count:
                    break
        kept.append(np.column_stack([accepted, np.full(count, z)]))
    return np.concatenate(kept)
