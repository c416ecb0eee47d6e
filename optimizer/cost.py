"""The cost of a design: seed 002's nine criteria ("Discrete optimizer") as weighted terms.

Per ensemble e with n cells (values normalised so that one unit is "a whole ensemble's worth"):

==  ============  ========================================================================================
 1  distinct      (global) Σ_cells C(c_i, 2) / n̄: pairs of ensembles sharing a cell, c_i = ensembles using i
 2  reuse         mean prior ``uses`` of the members (holograms already containing them)
 3  power         mean stimmable power of the members / 100 mW (the top of seed 002's power test)
 4  responsive    fraction of members that are not visually responsive
 5  —             hard: no two members closer than ``min_distance_um`` (never proposed, so no term)
 6  spread        mean over member pairs of the crowding kernel (1 − d/r)²₊, r = 3 × min distance
 7  spatial       distance of the mean pairwise 3D distance outside its rule, per 100 µm
 8  ensemble_osi  distance of the ensemble OSI outside its rule, per 0.1, plus for cotuned ensembles the
                  orientation error beyond the tolerance per 10° and a gentle pull towards the target
 9  mean_osi      distance of the mean member OSI outside its rule, per 0.1
==  ============  ========================================================================================

Rule terms (7–9) are hinges aimed a small margin inside each threshold, so that a design at zero rule cost
meets the strict inequalities of seed 002 with room to spare; they are multiplied by the group's ``weight``.
Everything is written for arrays, so the search scores all candidate swaps of a slot in one call.
"""
from __future__ import annotations

import numpy as np

from .plan import EnsemblePlan
from .spec import CriterionWeights
from .tuning import direction_phasors

POWER_SCALE_MW = 100.0       # seed 002 power test: 12.5–100 mW
SPATIAL_SCALE_UM = 100.0
OSI_SCALE = 0.1
ORIENTATION_SCALE_DEG = 10.0
SPATIAL_MARGIN_UM = 5.0
OSI_MARGIN = 0.02
ORIENTATION_MARGIN_DEG = 2.0
ORIENTATION_PULL = 0.01      # cost per tolerance-width of orientation error inside the tolerance
TERMS = ("distinct", "reuse", "power", "responsive", "spread", "spatial", "ensemble_osi", "mean_osi")


def _bounds(interval, natural_low: float, natural_high: float, margin: float) -> tuple[float, float]:
    """Hinge bounds: a margin inside each threshold that is not a natural limit of the quantity (else ±inf)."""
    low, high = interval
    return (low + margin if low > natural_low else -np.inf, high - margin if high < natural_high else np.inf)


def _hinge(x, low, high):
    """How far x lies outside [low, high]; infinite bounds contribute 0."""
    return np.maximum(low - x, 0.0) + np.maximum(x - high, 0.0)


class CostTable:
    """Rule and preference parameters of every ensemble as arrays indexed by ensemble, so that candidate
    versions of one ensemble — or of many different ensembles at once — are scored by the same vectorised code.

    Aggregates are sums over members; ``curve_sum`` is the sum of the members' RAW direction curves with the D
    directions on its FIRST axis, shape (D,) or (D, M) for M candidates, and ``e`` is an ensemble index or an
    (M,) array of them.
    """

    def __init__(self, plans: list[EnsemblePlan], weights: CriterionWeights, directions_deg: np.ndarray):
        """``directions_deg``: the cell table's sorted directions (see :func:`~optimizer.tuning.check_directions`)."""
        self.plans, self.weights = plans, weights
        self.directions_deg = np.asarray(directions_deg, dtype=float)
        # Opposite directions share a doubled-angle phasor: the vector sum runs over the folded half curve.
        self.phasors = direction_phasors(self.directions_deg[: len(self.directions_deg) // 2])
        self.phasor_pair = np.stack([self.phasors.imag, self.phasors.real])   # one product gives (y, x)
        col = lambda f: np.array([f(p) for p in plans], dtype=float)  # noqa: E731
        self.n_cells = col(lambda p: p.n_cells)
        self.n_pairs = self.n_cells * (self.n_cells - 1) / 2.0
        sp = [_bounds(p.spatial_um, 0.0, np.inf, SPATIAL_MARGIN_UM) for p in plans]
        eo = [_bounds(p.ensemble_osi, 0.0, 1.0, OSI_MARGIN) for p in plans]
        mo = [_bounds(p.mean_osi, 0.0, 1.0, OSI_MARGIN) for p in plans]
        self.spatial_lo, self.spatial_hi = (np.array(v) for v in zip(*sp))
        self.ens_lo, self.ens_hi = (np.array(v) for v in zip(*eo))
        self.mean_lo, self.mean_hi = (np.array(v) for v in zip(*mo))
        self.has_target = np.array([p.target_deg is not None for p in plans])
        self.target_rad2 = np.deg2rad(2.0 * col(lambda p: p.target_deg or 0.0))
        # Phasors turned by each ensemble's doubled target angle: the angle of that vector sum IS the signed
        # orientation error (doubled), already wrapped into (−π, π] by arctan2.
        turned = np.angle(self.phasors)[None, :] - self.target_rad2[:, None]     # (E, D/2)
        self.turned_pair = np.stack([np.sin(turned), np.cos(turned)], axis=1)     # (E, 2, D/2)
        self.cos_target, self.sin_target = np.cos(self.target_rad2), np.sin(self.target_rad2)
        self.tol_deg = col(lambda p: p.tolerance_deg)
        g = col(lambda p: p.weight)
        self.w_spatial = g * weights.spatial / SPATIAL_SCALE_UM
        self.w_ens = g * weights.ensemble_osi
        self.w_mean = g * weights.mean_osi / OSI_SCALE
        self.w_crowd = weights.spread / self.n_pairs
        self._scalar = [self._scalar_terms(e) for e in range(len(plans))]
        # :meth:`rule_costs`' per-ensemble factors, the same floating-point values as :meth:`_rule_cost_one`'s.
        self._batch = {"inv_pairs": 1.0 / self.n_pairs, "inv_n": 1.0 / self.n_cells,
                       "w_ens_osi": self.w_ens / OSI_SCALE, "tol_inner": self.tol_deg - ORIENTATION_MARGIN_DEG,
                       "pull": ORIENTATION_PULL / self.tol_deg}

    def _scalar_terms(self, e: int) -> tuple:
        """The active rule terms of ensemble e, so that scoring one ensemble skips the rules it lacks."""
        active = lambda lo, hi: lo[e] > -np.inf or hi[e] < np.inf  # noqa: E731
        spatial = (1.0 / self.n_pairs[e], self.spatial_lo[e], self.spatial_hi[e], self.w_spatial[e]) \
            if active(self.spatial_lo, self.spatial_hi) else None
        mean = (1.0 / self.n_cells[e], self.mean_lo[e], self.mean_hi[e], self.w_mean[e]) \
            if active(self.mean_lo, self.mean_hi) else None
        ens = (self.ens_lo[e], self.ens_hi[e]) if active(self.ens_lo, self.ens_hi) else None
        target = (self.turned_pair[e], self.tol_deg[e]) if self.has_target[e] else None
        return spatial, mean, ens, target, self.w_ens[e]

    def rule_cost(self, e, curve_sum, osi_sum, pair_sum):
        """Weighted terms 7–9 (times the group weight) of ensemble(s) ``e`` with the given aggregates.

        ``e`` is an ensemble index, an index array (one ensemble per candidate), or a :meth:`gather` of one.
        """
        if isinstance(e, (int, np.integer)):
            return self._rule_cost_one(int(e), curve_sum, osi_sum, pair_sum)
        v = e if isinstance(e, dict) else self.gather(e)
        cost = v["w_spatial"] * _hinge(pair_sum * v["inv_pairs"], v["spatial_lo"], v["spatial_hi"])
        cost = cost + v["w_mean"] * _hinge(osi_sum * v["inv_n"], v["mean_lo"], v["mean_hi"])
        osi, folded = summed_osi(curve_sum)
        cost = cost + v["w_ens_osi"] * _hinge(osi, v["ens_lo"], v["ens_hi"])
        if v["any_target"]:
            # turned by each candidate's own target; (D/2, K, N) batches of K ensembles need a tensor product
            y, x = self.phasor_pair @ folded if folded.ndim <= 2 else np.tensordot(self.phasor_pair, folded, 1)
            cos_t, sin_t = v["cos_target"], v["sin_target"]
            err = _error_deg(y * cos_t - x * sin_t, x * cos_t + y * sin_t)
            cost = cost + v["w_orient"] * np.maximum(err - v["tol_inner"], 0.0) + v["w_pull"] * err
        return cost

    def gather(self, e: np.ndarray) -> dict:
        """The parameters of ensembles ``e`` (an index array), laid out for :meth:`rule_cost`; reusable."""
        has = self.has_target[e]
        tol = self.tol_deg[e]
        return {"w_spatial": self.w_spatial[e], "inv_pairs": 1.0 / self.n_pairs[e],
                "spatial_lo": self.spatial_lo[e], "spatial_hi": self.spatial_hi[e],
                "w_mean": self.w_mean[e], "inv_n": 1.0 / self.n_cells[e],
                "mean_lo": self.mean_lo[e], "mean_hi": self.mean_hi[e],
                "w_ens_osi": self.w_ens[e] / OSI_SCALE, "ens_lo": self.ens_lo[e], "ens_hi": self.ens_hi[e],
                "any_target": bool(np.any(has)), "cos_target": self.cos_target[e], "sin_target": self.sin_target[e],
                "tol_inner": tol - ORIENTATION_MARGIN_DEG,
                "w_orient": np.where(has, self.w_ens[e] / ORIENTATION_SCALE_DEG, 0.0),
                "w_pull": np.where(has, self.w_ens[e] * ORIENTATION_PULL / tol, 0.0)}

    def gather_rows(self, e: np.ndarray) -> dict:
        """:meth:`gather` with every array as a column (K, 1), to score (K, N) candidates of K ensembles."""
        return {k: (v[:, None] if isinstance(v, np.ndarray) else v) for k, v in self.gather(e).items()}

    def _rule_cost_one(self, e: int, curve_sum, osi_sum, pair_sum):
        spatial, mean, ens, target, w_ens = self._scalar[e]
        cost = 0.0
        if spatial is not None:
            cost = spatial[3] * _one_sided_hinge(pair_sum * spatial[0], spatial[1], spatial[2])
        if mean is not None:
            cost = cost + mean[3] * _one_sided_hinge(osi_sum * mean[0], mean[1], mean[2])
        if ens is None and target is None:
            return cost
        osi, folded = summed_osi(curve_sum)
        if ens is not None:
            cost = cost + (w_ens / OSI_SCALE) * _one_sided_hinge(osi, ens[0], ens[1])
        if target is not None:
            err = _error_deg(*(target[0] @ folded))
            cost = cost + w_ens * (np.maximum(err - (target[1] - ORIENTATION_MARGIN_DEG), 0.0)
                                   * (1.0 / ORIENTATION_SCALE_DEG) + (ORIENTATION_PULL / target[1]) * err)
        return cost

    def rule_costs(self, e: np.ndarray, curve_sum, osi_sum, pair_sum) -> np.ndarray:
        """:meth:`rule_cost` of M ensembles ``e`` (distinct or not), each with its own aggregates (``curve_sum``
        (D, M)), computed with exactly the operations of the one-ensemble path, so that a batch of ensemble
        costs equals the costs computed one by one (an absent rule's hinge adds an exact 0)."""
        b = self._batch
        cost = self.w_spatial[e] * _hinge(pair_sum * b["inv_pairs"][e], self.spatial_lo[e], self.spatial_hi[e])
        cost = cost + self.w_mean[e] * _hinge(osi_sum * b["inv_n"][e], self.mean_lo[e], self.mean_hi[e])
        osi, folded = summed_osi(curve_sum)
        cost = cost + b["w_ens_osi"][e] * _hinge(osi, self.ens_lo[e], self.ens_hi[e])
        has = self.has_target[e]
        if np.any(has):
            yx = (self.turned_pair[e] @ folded.T[:, :, None])[:, :, 0]                     # (M, 2)
            err = _error_deg(yx[:, 0], yx[:, 1])
            tol_inner = b["tol_inner"][e]
            term = self.w_ens[e] * (np.maximum(err - tol_inner, 0.0) * (1.0 / ORIENTATION_SCALE_DEG)
                                    + b["pull"][e] * err)
            cost = np.where(has, cost + term, cost)
        return cost

    def tuning_term(self, e: int, curve_sum) -> float:
        """Unweighted term 8 of ensemble e: ensemble-OSI hinge per 0.1, plus the orientation terms of cotuned
        ensembles (hinge beyond the tolerance per 10°, and the pull towards the target)."""
        osi, folded = summed_osi(curve_sum)
        term = _hinge(osi, self.ens_lo[e], self.ens_hi[e]) * (1.0 / OSI_SCALE)
        if self.has_target[e]:
            err = _error_deg(*(self.turned_pair[e] @ folded))
            tol = self.tol_deg[e]
            term = term + (np.maximum(err - (tol - ORIENTATION_MARGIN_DEG), 0.0) * (1.0 / ORIENTATION_SCALE_DEG)
                           + (ORIENTATION_PULL / tol) * err)
        return term

    def rule_terms(self, e: int, curve_sum, osi_sum, pair_sum) -> dict:
        """Unweighted terms 7–9 of one ensemble, for reports."""
        return {
            "spatial": float(_hinge(pair_sum / self.n_pairs[e], self.spatial_lo[e], self.spatial_hi[e])
                             / SPATIAL_SCALE_UM),
            "ensemble_osi": float(self.tuning_term(e, curve_sum)),
            "mean_osi": float(_hinge(osi_sum / self.n_cells[e], self.mean_lo[e], self.mean_hi[e]) / OSI_SCALE),
        }

    def linear_scores(self, uses, power_mw, unresponsive) -> np.ndarray:
        """(E, N) per-cell contribution of terms 2–4 (linear in the members), weighted and divided by n."""
        w = self.weights
        per_cell = w.reuse * uses + w.power * power_mw / POWER_SCALE_MW + w.responsive * unresponsive
        return per_cell[None, :] / self.n_cells[:, None]


def _one_sided_hinge(x, low: float, high: float):
    """:func:`_hinge` for scalar bounds, skipping an infinite side (one array pass fewer)."""
    if low == -np.inf:
        return np.maximum(x - high, 0.0)
    if high == np.inf:
        return np.maximum(low - x, 0.0)
    return np.maximum(low - x, 0.0) + np.maximum(x - high, 0.0)


def _error_deg(y, x):
    """Orientation error in degrees [0, 90] from the vector sum turned by the target's doubled angle (y, x):
    half its angle, which arctan2 already gives wrapped into [−π, π]."""
    return np.abs(np.arctan2(y, x)) * (90.0 / np.pi)


def summed_osi(curve_sum):
    """Seed-002 OSI (:func:`~optimizer.tuning.osi_of_direction_curves`) of summed raw direction curves with the
    D sorted directions on the first axis, shape (D,) or (D, M); scale-free, so the sum gives the mean's OSI.

    Any further axes are kept, e.g. (D, K, N) for N candidates of each of K ensembles; float32 stays float32.

    Returns ``(osi, folded)``: ``folded[j] = R[j] + R[j + D/2]`` (R the rectified curve) sums each direction with
    its opposite. The directions ± 90° of direction i are columns i ± D/4, an opposite pair, so 2·OO at peak i is
    ``folded[(i + D/4) mod D/2]``. The peak is the first maximal direction, found by masked copies over the D
    rows: argmax and take_along_axis cost more than these masked copies on arrays of ~1,000 candidates.
    """
    n_dir = curve_sum.shape[0]
    half, quarter = n_dir // 2, n_dir // 4
    rect = np.maximum(curve_sum, 0.0)
    folded = rect[:half] + rect[half:]
    if rect.ndim == 1:
        k = int(np.argmax(rect))
        po, oo2 = rect[k], folded[(k + quarter) % half]
    else:
        po = rect.max(axis=0)
        at_peak = rect == po
        oo2 = np.empty_like(po)
        for i in range(n_dir - 1, -1, -1):      # backwards: on ties the first peak direction writes last
            np.copyto(oo2, folded[(i + quarter) % half], where=at_peak[i])
    po2 = po + po
    tiny = 1e-300 if rect.dtype == np.float64 else np.finfo(rect.dtype).tiny   # 0/0 → 0 in float32 too
    return (po2 - oo2) / (po2 + oo2 + tiny), folded


def vector_angle_deg(curve_sum, phasors: np.ndarray):
    """Vector-sum orientation of summed raw direction curves (first axis: directions) after rectification,
    degrees in [0, 180); ``phasors``: :attr:`CostTable.phasors`."""
    _, folded = summed_osi(curve_sum)
    x = phasors.real @ folded
    y = phasors.imag @ folded
    return np.mod(np.rad2deg(np.arctan2(y, x)) * 0.5, 180.0)
