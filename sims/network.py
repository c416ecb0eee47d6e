"""The ground-truth network: sparse synaptic weights sampled on the actual cells from the seed-002 rules.

A connection from cell j (population β) to cell i (population α) has expected weight::

    E[W_ij] = w_αβ · g_β(d_ij) · ĥ_αβ(Δθ_ij) / ρ_β

(``g`` the broad + narrow spatial kernel of :mod:`sims.kernels` over lateral distance in the periodic box, ĥ the
mean-normalised feature kernel, ρ_β the presynaptic density per µm² of sheet), the discrete counterpart of the
neural field in :mod:`sims.field`. Synapses are drawn by sampling a displacement from ``g``, taking the cell of
the right population nearest to that point (a uniformly drawn depth in the slab, so the narrow component is
columnar, as in ref. 46 of seed 002) and keeping it with probability ĥ/max ĥ; each synapse carries
``w·max ĥ / K`` for K draws per cell, so sums converge to the field's expectations.

Only what the imaged cells' responses need is sampled, each matrix entry exactly once: the inputs of imaged cells
(E→E from every E cell, I→E from every I cell, by input sampling) and the outputs of imaged cells onto hidden E
cells and onto I cells (by output sampling). That is also the exported connectome: like a proofread subset of
MICrONS, every synapse touching an imaged cell, none between two unimaged cells.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .config import SimConfig
from .kernels import feature_kernel
from .population import Population


@dataclass(frozen=True)
class Network:
    """Sampled weights. E cells are indexed imaged first (0..n-1, as in the population), then hidden.

    ``ee_in`` (n × N_E): E→E inputs of imaged cells. ``ei_in`` (n × N_I): I→E inputs of imaged cells.
    ``ee_out`` (N_E × n): E→E outputs of imaged cells onto hidden E cells (rows < n are empty).
    ``ie_out`` (N_I × n): E→I outputs of imaged cells.
    Matrix entries are weights (summed over synapses); ``*_count`` hold synapse counts in the same pattern.
    """

    ee_in: sp.csr_matrix
    ei_in: sp.csr_matrix
    ee_out: sp.csr_matrix
    ie_out: sp.csr_matrix
    counts: dict
    n_imaged: int
    n_e: int
    n_i: int

    def ee_to_imaged(self) -> sp.csr_matrix:
        """W_ee[:, imaged] (N_E × n): imaged rows from input sampling, hidden rows from output sampling."""
        top = self.ee_in[:, :self.n_imaged]
        return sp.vstack([top, self.ee_out[self.n_imaged:]]).tocsr()

    def to_tables(self, population: Population):
        """The connectome as pandas tables ``(cells, synapses)``.

        ``cells``: cell_id, type ('E'/'I'), imaged, x_um, y_um, z_um, po_deg, osi (NaN if not imaged).
        ``synapses``: pre_id, post_id, pre_type, post_type, synapses (count), weight (summed, signed).
        E cells have ids 0..N_E-1 (imaged first, matching population indices), I cells N_E..N_E+N_I-1.
        """
        import pandas as pd

        n, n_e = self.n_imaged, self.n_e
        e_xyz = np.vstack([population.xyz_um, population.hidden_e_xyz_um])
        e_po = np.concatenate([population.po_deg, population.hidden_e_po_deg])
        osi = np.full(n_e + self.n_i, np.nan)
        osi[:n] = population.osi
        cells = pd.DataFrame({
            "cell_id": np.arange(n_e + self.n_i), "type": np.array(["E"] * n_e + ["I"] * self.n_i),
            "imaged": np.arange(n_e + self.n_i) < n,
            "x_um": np.concatenate([e_xyz[:, 0], population.i_xyz_um[:, 0]]),
            "y_um": np.concatenate([e_xyz[:, 1], population.i_xyz_um[:, 1]]),
            "z_um": np.concatenate([e_xyz[:, 2], population.i_xyz_um[:, 2]]),
            "po_deg": np.concatenate([e_po, population.i_po_deg]), "osi": osi})
        parts = []
        for name, w, pre_off, post_off, pre_t, post_t in (
                ("ee_in", self.ee_in.T.tocoo(), 0, 0, "E", "E"), ("ei_in", self.ei_in.T.tocoo(), n_e, 0, "I", "E"),
                ("ee_out", self.ee_out.T.tocoo(), 0, 0, "E", "E"), ("ie_out", self.ie_out.T.tocoo(), 0, n_e, "E", "I")):
            cnt = self.counts[name].T.tocoo()
            parts.append(pd.DataFrame({"pre_id": w.row + pre_off, "post_id": w.col + post_off,
                                       "pre_type": pre_t, "post_type": post_t,
                                       "synapses": cnt.data.astype(np.int32), "weight": w.data}))
        synapses = pd.concat(parts, ignore_index=True).sort_values(["post_id", "pre_id"], ignore_index=True)
        return cells, synapses


class _Blocks:
    """Poisson synapse counts for blocks of (post, pre) pairs, evaluated exactly on every pair."""

    def __init__(self, population: Population, config: SimConfig, rng: np.random.Generator):
        self.box = population.box_um
        self.rng = rng
        self.k = config.synapses_per_cell
        self.e_xy = np.vstack([population.xyz_um, population.hidden_e_xyz_um])[:, :2].astype(np.float32)
        self.i_xy = population.i_xyz_um[:, :2].astype(np.float32)
        self.e_po = np.mod(np.concatenate([population.po_deg, population.hidden_e_po_deg]), 180.0).astype(np.float32)
        self.i_po = np.mod(population.i_po_deg, 180.0).astype(np.float32)

    def _lateral_d2(self, a_xy, b_xy) -> np.ndarray:
        """Squared lateral distances in the periodic box, float32 (len(a), len(b))."""
        box = np.float32(self.box)
        out = None
        for ax in range(2):
            d = np.abs(a_xy[:, None, ax] - b_xy[None, :, ax])
            np.minimum(d, box - d, out=d)
            out = d * d if out is None else out + d * d
        return out

    @staticmethod
    def _feature_lut(feature) -> np.ndarray:
        """ĥ at 0.5° steps of orientation difference, 0..90° (a lookup table, float32)."""
        return feature_kernel(np.arange(181) * 0.5, *feature).astype(np.float32)

    def sample(self, post_xy, post_po, pre_xy, pre_po, spatial, feature, weight, rho_pre, chunk=64):
        """Sparse ``(weights, counts)`` of shape (len(post), len(pre)).

        Expected synapse count of a pair: K·g(d)·ĥ(Δθ)/ρ_pre (so a cell receives K synapses on average), each
        synapse carrying ``weight/K``; hence E[W_ij] = weight·g(d)·ĥ/ρ_pre exactly.
        """
        sigma_b, sigma_n, kappa = spatial
        amp_b = np.float32((1.0 - kappa) / (2 * np.pi * sigma_b ** 2) * self.k / rho_pre)
        amp_n = np.float32(kappa / (2 * np.pi * sigma_n ** 2) * self.k / rho_pre)
        inv_b, inv_n = np.float32(-0.5 / sigma_b ** 2), np.float32(-0.5 / sigma_n ** 2)
        lut = self._feature_lut(feature)
        rows, cols, vals = [], [], []
        for start in range(0, len(post_xy), chunk):
            stop = min(start + chunk, len(post_xy))
            d2 = self._lateral_d2(post_xy[start:stop], pre_xy)
            lam = amp_b * np.exp(d2 * inv_b)
            if kappa > 0:
                lam += amp_n * np.exp(d2 * inv_n)
            dth = np.abs(post_po[start:stop, None] - pre_po[None, :])
            np.minimum(dth, np.float32(180.0) - dth, out=dth)
            lam *= lut[np.rint(dth * np.float32(2.0)).astype(np.intp)]
            counts = self.rng.poisson(lam)
            r, c = np.nonzero(counts)
            rows.append(r + start)
            cols.append(c)
            vals.append(counts[r, c])
        rows, cols, vals = (np.concatenate(x) for x in (rows, cols, vals))
        shape = (len(post_xy), len(pre_xy))
        counts = sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=shape)
        return (counts.astype(np.float64) * (weight / self.k)).tocsr(), counts


def sample_network(population: Population, config: SimConfig, seed: int) -> Network:
    """Sample the ground-truth network on the population's cells (deterministic for a given ``seed``)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    b = _Blocks(population, config, rng)
    c, n = config, population.n
    n_e, n_i = len(b.e_xy), len(b.i_xy)
    rho_e, rho_i = n_e / b.box ** 2, max(n_i, 1) / b.box ** 2
    spatial_e = (c.sigma_e_broad_um, c.sigma_e_narrow_um, c.kappa_e)
    spatial_i = (c.sigma_i_broad_um, c.sigma_i_narrow_um, c.kappa_i)
    feat_e = (c.feature_r0, c.feature_rp, c.feature_sigma_deg)
    feat_i = (c.feature_i_r0, c.feature_i_rp, c.feature_i_sigma_deg)
    img = (b.e_xy[:n], b.e_po[:n])
    hid = (b.e_xy[n:], b.e_po[n:])
    mats, counts = {}, {}
    mats["ee_in"], counts["ee_in"] = b.sample(*img, b.e_xy, b.e_po, spatial_e, feat_e, c.w_ee, rho_e)
    mats["ee_in"].setdiag(0.0)                              # no autapses
    counts["ee_in"].setdiag(0.0)
    for m in (mats["ee_in"], counts["ee_in"]):
        m.eliminate_zeros()
    mats["ei_in"], counts["ei_in"] = b.sample(*img, b.i_xy, b.i_po, spatial_i, feat_i, c.w_ei, rho_i)
    w_hid, c_hid = b.sample(*hid, *img, spatial_e, feat_e, c.w_ee, rho_e)
    pad = sp.csr_matrix((n, n))
    mats["ee_out"], counts["ee_out"] = sp.vstack([pad, w_hid]).tocsr(), sp.vstack([pad, c_hid]).tocsr()
    mats["ie_out"], counts["ie_out"] = b.sample(b.i_xy, b.i_po, *img, spatial_e, feat_i, c.w_ie, rho_e)
    return Network(mats["ee_in"], mats["ei_in"], mats["ee_out"], mats["ie_out"], counts, n, n_e, n_i)
