"""The cells of one field of view: positions, tuning, opsin, stimmability, spontaneous rate.

Tissue model (seed 002, "Calcium imaging" and "Mice"): layer 2/3 of mouse V1 imaged as three planes 30 µm apart
over 800 × 800 µm; GCaMP6s in excitatory cells only, so inhibitory cells exist in the network but are never
imaged. Cells fill a slab from ``slab_margin_um`` above the top plane to as far below the bottom plane, inside
the network's periodic box (default 1400 µm, seed 002 model); the FOV sits in the middle of the box.

Coordinates are imaging coordinates: x, y in µm from the FOV's top-left corner (x along columns), z in µm
relative to the nominal focal plane, like the planes' ``planes_z_um``.

The excitatory cells whose soma centre lies within ``detection_half_depth_um`` of a plane and inside the FOV are
the *imaged* cells (index 0..n-1 of the arrays here); the other excitatory cells are *hidden* (they take part in
the network only).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .config import SimConfig
from .errors import SimError

#: Eight grating directions of seed 002 (degrees).
DIRECTIONS_DEG = np.arange(0.0, 360.0, 45.0)


@dataclass(frozen=True)
class Population:
    """Imaged excitatory cells (arrays of length ``n``) plus the hidden E and all I cells of the network."""

    xyz_um: np.ndarray              #: (n, 3) soma centre, imaging coordinates, µm
    plane: np.ndarray               #: (n,) index of the imaging plane the cell is seen in
    soma_radius_um: np.ndarray      #: (n,)
    pref_dir_deg: np.ndarray        #: (n,) preferred direction, [0, 360)
    selectivity: np.ndarray         #: (n,) orientation-tuning depth s in [0, 1] of the tuning model
    direction_index: np.ndarray     #: (n,) direction bias d in [0, 1)
    visual_peak_hz: np.ndarray      #: (n,) extra rate at the preferred direction, 0 for unresponsive cells
    opsin: np.ndarray               #: (n,) bool, expresses the opsin
    mruby: np.ndarray               #: (n,) nuclear mRuby3 brightness, relative
    stimmable_power_mw: np.ndarray  #: (n,) power per cell giving a reliable response, mW
    baseline_rate_hz: np.ndarray    #: (n,) spontaneous rate under a grey screen, Hz
    hidden_e_xyz_um: np.ndarray     #: (m, 3) excitatory cells not imaged
    hidden_e_po_deg: np.ndarray     #: (m,)
    i_xyz_um: np.ndarray            #: (k, 3) inhibitory cells
    i_po_deg: np.ndarray            #: (k,)
    planes_z_um: np.ndarray         #: (p,) depth of each imaging plane
    fov_um: tuple                   #: (height, width)
    box_um: float                   #: side of the periodic network box
    slab_um: tuple                  #: (z_top, z_bottom) of the tissue slab

    @property
    def n(self) -> int:
        return len(self.xyz_um)

    @property
    def po_deg(self) -> np.ndarray:
        """Preferred orientation, [0, 180)."""
        return np.mod(self.pref_dir_deg, 180.0)

    @property
    def responsive(self) -> np.ndarray:
        return self.visual_peak_hz > 0

    @property
    def e_density_per_um2(self) -> float:
        """Excitatory cells per µm² of cortical sheet (all depths of the slab)."""
        return (self.n + len(self.hidden_e_xyz_um)) / self.box_um ** 2

    @property
    def box_offset_um(self) -> np.ndarray:
        """Add to imaging x, y to get network-box coordinates (the FOV is centred in the box)."""
        return np.array([(self.box_um - self.fov_um[1]) / 2.0, (self.box_um - self.fov_um[0]) / 2.0])

    def tuning_curve(self, directions_deg=DIRECTIONS_DEG) -> np.ndarray:
        """Mean evoked extra rate (Hz) of every imaged cell to each direction, ``(n, len(directions))``."""
        return tuning_rates(self.pref_dir_deg, self.selectivity, self.direction_index, self.visual_peak_hz,
                            np.asarray(directions_deg, dtype=np.float64))

    @property
    def osi(self) -> np.ndarray:
        """Seed 002 OSI of the noise-free tuning curve (:func:`osi_of_curves`), 0 if unresponsive."""
        return osi_of_curves(self.tuning_curve(), DIRECTIONS_DEG)


def tuning_rates(pref_dir_deg, selectivity, direction_index, peak_hz, directions_deg) -> np.ndarray:
    """Orientation tuning ``peak·(1 − s + s·exp(2(cos 2Δ − 1)))`` times a direction bias ``(1 + d·cos Δdir)``."""
    delta = np.deg2rad(directions_deg[None, :] - pref_dir_deg[:, None])
    orient = 1.0 - selectivity[:, None] + selectivity[:, None] * np.exp(2.0 * (np.cos(2.0 * delta) - 1.0))
    return peak_hz[:, None] * orient * (1.0 + direction_index[:, None] * np.cos(delta)) / (1.0 + direction_index[:, None])


def osi_of_curves(curves: np.ndarray, directions_deg: np.ndarray) -> np.ndarray:
    """OSI as in seed 002 ("Online analysis") from per-direction responses ``(n, n_dir)``.

    The product's one definition (online and optimizer compute the same; tests/test_osi_definition.py pins them
    together): responses rectified at 0; PO is the largest response (the preferred *direction*), OO the mean of
    the responses at the two directions orthogonal to it (±90°); OSI = (PO − OO)/(PO + OO); 0 where PO is 0.
    """
    d = np.mod(np.asarray(directions_deg, dtype=np.float64), 360.0)
    r = np.clip(np.asarray(curves, dtype=np.float64), 0.0, None)
    peak = np.argmax(r, axis=1)
    rows = np.arange(len(r))
    ortho = [np.argmin(np.abs((d[None, :] - (d[peak] + sign)[:, None] + 180.0) % 360.0 - 180.0), axis=1)
             for sign in (90.0, -90.0)]
    po = r[rows, peak]
    oo = 0.5 * (r[rows, ortho[0]] + r[rows, ortho[1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(po > 0, (po - oo) / np.where(po > 0, po + oo, 1.0), 0.0)


def _hard_core(xyz: np.ndarray, min_dist_um: float, box_um: float) -> np.ndarray:
    """Indices kept after removing the later cell of every pair closer than ``min_dist_um`` (somata can't overlap)."""
    pts = xyz.copy()
    pts[:, :2] = np.mod(pts[:, :2], box_um)
    zspan = pts[:, 2].max() - pts[:, 2].min() + 2 * min_dist_um + 1.0
    pts[:, 2] -= pts[:, 2].min()
    tree = cKDTree(pts, boxsize=[box_um, box_um, zspan * 2])
    pairs = tree.query_pairs(min_dist_um, output_type="ndarray")
    drop = np.zeros(len(xyz), dtype=bool)
    drop[np.maximum(pairs[:, 0], pairs[:, 1])] = True
    return np.flatnonzero(~drop)


def make_population(config: SimConfig, planes_z_um, fov_um, seed: int) -> Population:
    """Draw one field of view's cells (deterministic for a given ``seed``)."""
    planes = np.asarray(planes_z_um, dtype=np.float64)
    fov = (float(fov_um[0]), float(fov_um[1]))
    box = float(config.network_box_um)
    if box < max(fov):
        raise SimError(f"network_box_um ({box}) must be at least the FOV ({max(fov)} µm)")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    z_top, z_bot = planes.min() - config.slab_margin_um, planes.max() + config.slab_margin_um
    thickness = max(z_bot - z_top, 2 * config.detection_half_depth_um)
    n_e = rng.poisson(config.cell_density_per_mm3 * 1e-9 * box * box * thickness)
    xyz = np.column_stack([rng.uniform(0, box, n_e), rng.uniform(0, box, n_e), rng.uniform(z_top, z_top + thickness, n_e)])
    xyz = xyz[_hard_core(xyz, 1.6 * config.soma_radius_um, box)]
    n_e = len(xyz)
    offset = np.array([(box - fov[1]) / 2.0, (box - fov[0]) / 2.0])
    img_xy = xyz[:, :2] - offset
    dz = np.abs(xyz[:, 2:3] - planes[None, :])
    in_fov = (img_xy[:, 0] >= 0) & (img_xy[:, 0] < fov[1]) & (img_xy[:, 1] >= 0) & (img_xy[:, 1] < fov[0])
    imaged = in_fov & (dz.min(axis=1) <= config.detection_half_depth_um)
    if imaged.sum() < 10:
        raise SimError(f"only {imaged.sum()} cells are imaged; raise cell_density_per_mm3 or detection_half_depth_um")
    po_all = rng.uniform(0.0, 360.0, n_e)
    idx, hid = np.flatnonzero(imaged), np.flatnonzero(~imaged)
    n = len(idx)

    responsive = rng.random(n) < config.visually_responsive_fraction
    selectivity = np.where(responsive, rng.beta(2.5, 1.3, n), 0.0)
    direction_index = np.where(responsive, rng.beta(1.2, 4.0, n), 0.0)
    peak = np.where(responsive, config.visual_peak_rate_hz * rng.lognormal(0.0, 0.5, n), 0.0)
    opsin = rng.random(n) >= config.opsin_negative_fraction
    expression = rng.lognormal(0.0, 0.5, n)
    mruby = np.where(opsin, expression, 0.05 * rng.lognormal(0.0, 0.3, n))
    # Brighter nuclei (more opsin) need less light; the rest of the spread is cell-to-cell variability.
    stim = config.stimmable_power_median_mw * expression ** -0.5 * rng.lognormal(0.0, config.stimmable_power_log_sd * 0.8, n)
    stim = np.clip(stim, 8.0, 250.0)
    rate = config.baseline_rate_median_hz * rng.lognormal(0.0, config.baseline_rate_log_sd, n)
    radius = config.soma_radius_um * rng.uniform(0.85, 1.15, n)

    n_i = rng.poisson(n_e * config.inhibitory_per_excitatory)
    i_xyz = np.column_stack([rng.uniform(0, box, n_i), rng.uniform(0, box, n_i), rng.uniform(z_top, z_top + thickness, n_i)])
    i_xyz[:, :2] -= offset
    hidden = xyz[hid].copy()
    hidden[:, :2] -= offset
    return Population(
        xyz_um=np.column_stack([img_xy[idx], xyz[idx, 2]]), plane=np.argmin(dz[idx], axis=1),
        soma_radius_um=radius, pref_dir_deg=po_all[idx], selectivity=selectivity, direction_index=direction_index,
        visual_peak_hz=peak, opsin=opsin, mruby=mruby, stimmable_power_mw=stim, baseline_rate_hz=rate,
        hidden_e_xyz_um=hidden, hidden_e_po_deg=np.mod(po_all[hid], 180.0),
        i_xyz_um=i_xyz, i_po_deg=rng.uniform(0.0, 180.0, n_i),
        planes_z_um=planes, fov_um=fov, box_um=box, slab_um=(z_top, z_top + thickness))
