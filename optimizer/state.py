"""Search state with incremental cost updates.

Each ensemble keeps sums over its members (raw direction curves, OSIs, pairwise distances and crowding, the linear
terms 2–4) and, for every eligible cell c, the sums of c's distances and crowding to the members and how many
members are closer than the hard minimum. Scoring a swap "member a → cell b" then needs no recomputation over the
ensemble: new sums are old sums − a's share + b's share, O(D) per candidate (D directions). Two kinds of move
are scored for one slot, each for all candidates in a few vectorised numpy operations:

* replace: member a of ensemble e → any cell b (:meth:`SearchState.replace_deltas`);
* exchange: member a of e ↔ member b of another ensemble f (:meth:`SearchState.exchange_deltas`), which moves
  a cell between ensembles without the intermediate state where both hold it.

Accepting a move updates the per-cell vectors of the ensembles involved in O(N).
"""
from __future__ import annotations

import numpy as np

from .problem import Problem

#: Score a pruned candidate list only when it holds fewer than this fraction of the cells: gathering a long list
#: costs more than scoring every cell.
PRUNE_FRACTION = 0.5


class SearchState:
    """A complete design (one member array per ensemble) plus the running sums that make moves cheap."""

    def __init__(self, problem: Problem, members: list[np.ndarray], base_counts: np.ndarray | None = None):
        """``base_counts``: per cell, how many ensembles outside this problem hold it (criterion 1 counts them;
        used when one ensemble is designed while the others stay fixed)."""
        self.problem = problem
        cells = problem.cells
        self.costs = problem.costs
        self.curves = cells.resp                                   # (N, D) raw direction curves
        self.curves_t = np.ascontiguousarray(cells.resp.T)          # (D, N): one row per direction
        self.osi = cells.osi
        self.power = cells.power_mw
        sizes = [p.n_cells for p in problem.plans]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.flat = np.concatenate([np.asarray(m, dtype=np.int64) for m in members])   # all slots
        self.slot_ens = np.repeat(np.arange(len(sizes)), sizes)
        self.members = [self.flat[self.offsets[e]:self.offsets[e + 1]] for e in range(len(sizes))]  # views
        self._others = [np.flatnonzero(self.slot_ens != e) for e in range(len(sizes))]
        self._others_ens = [self.slot_ens[o] for o in self._others]
        self._others_params = [problem.costs.gather(f) for f in self._others_ens]
        self.curve_sum = np.stack([self.curves[m].sum(axis=0) for m in self.members])
        self.osi_sum = np.array([self.osi[m].sum() for m in self.members])
        self.linear_sum = np.array([problem.linear[e, m].sum() for e, m in enumerate(self.members)])
        self.row_dist = np.stack([problem.dist_um[:, m].sum(axis=1) for m in self.members])
        self.row_crowd = np.stack([problem.crowd[:, m].sum(axis=1) for m in self.members])
        self.near = np.stack([problem.close[:, m].sum(axis=1, dtype=np.int32) for m in self.members])
        self.pair_sum = np.array([self.row_dist[e, m].sum() / 2.0 for e, m in enumerate(self.members)])
        self.crowd_sum = np.array([self.row_crowd[e, m].sum() / 2.0 for e, m in enumerate(self.members)])
        self.power_sum = np.array([self.power[m].sum() for m in self.members])
        self.counts = np.bincount(self.flat, minlength=problem.n_cells).astype(np.int64)
        self.base_counts = np.zeros(problem.n_cells, dtype=np.int64) if base_counts is None else base_counts.copy()
        self.counts += self.base_counts
        self.max_power = problem.limits.max_total_power_mw
        self.distinct_w = problem.spec.weights.distinct / problem.n_ref
        self.ens_cost = np.array([self._ensemble_cost(e) for e in range(len(sizes))])

    # ------------------------------------------------------------------------------------------- scoring
    def _ensemble_cost(self, e: int) -> float:
        c = self.costs
        rule = c.rule_cost(e, self.curve_sum[e], self.osi_sum[e], self.pair_sum[e])
        return float(self.linear_sum[e] + c.w_crowd[e] * self.crowd_sum[e] + rule)

    def _ensemble_costs(self, ens: np.ndarray) -> np.ndarray:
        """:meth:`_ensemble_cost` of several ensembles in one batch (the same values)."""
        rule = self.costs.rule_costs(ens, self.curve_sum[ens].T, self.osi_sum[ens], self.pair_sum[ens])
        return self.linear_sum[ens] + self.costs.w_crowd[ens] * self.crowd_sum[ens] + rule

    def distinct_cost(self) -> float:
        """Criterion 1: pairs of ensembles sharing a cell, minus those among the fixed outside ensembles."""
        c, b = self.counts, self.base_counts
        return float(self.distinct_w * (np.sum(c * (c - 1) // 2) - np.sum(b * (b - 1) // 2)))

    def total(self) -> float:
        return float(self.ens_cost.sum() + self.distinct_cost())

    def _ensemble_deltas(self, e: int, a: int, idx):
        """Change of e's own cost if member ``a`` is replaced by each cell in ``idx`` (index array or slice),
        and the hard-rule mask (a member, closer than the minimum distance to a remaining member, or over the
        total-power limit)."""
        p, c = self.problem, self.costs
        curve_sum = (self.curve_sum[e] - self.curves[a])[:, None] + self.curves_t[:, idx]
        osi_sum = (self.osi_sum[e] - self.osi[a]) + self.osi[idx]
        pair_sum = (self.pair_sum[e] - self.row_dist[e, a]) + (self.row_dist[e, idx] - p.dist_um[a, idx])
        crowd_sum = (self.crowd_sum[e] - self.row_crowd[e, a]) + (self.row_crowd[e, idx] - p.crowd[a, idx])
        new = ((self.linear_sum[e] - p.linear[e, a]) + p.linear[e, idx] + c.w_crowd[e] * crowd_sum
               + c.rule_cost(e, curve_sum, osi_sum, pair_sum))
        forbidden = (self.near[e, idx] - p.close[a, idx]) != 0
        if self.max_power is not None:
            forbidden |= (self.power_sum[e] - self.power[a] + self.power[idx]) > self.max_power
        return new - self.ens_cost[e], forbidden

    def replace_candidates(self, e: int, slot: int, cutoff: float = np.inf) -> np.ndarray | slice:
        """Cells worth scoring as replacements: those whose own terms 2–4 could still give a change below
        ``cutoff``. Rule and crowding terms are ≥ 0, so replacing a by b changes e's cost by at least
        linear[b] − linear[a] − slack, slack = e's current crowding and rule cost; cells are kept in order of
        their linear score, so the candidates are a prefix of that order. An infinite cutoff keeps every cell."""
        if not np.isfinite(cutoff):
            return slice(None)
        p = self.problem
        a = self.members[e][slot]
        slack = self.ens_cost[e] - self.linear_sum[e]
        bound = p.linear[e, a] + slack + cutoff
        count = int(np.searchsorted(p.linear_sorted[e], bound, side="right"))
        return p.linear_order[e][:count] if count < PRUNE_FRACTION * p.n_cells else slice(None)

    def replace_deltas(self, e: int, slot: int, cutoff: float = np.inf):
        """Cost changes of replacing member ``slot`` of ensemble ``e`` by each candidate cell.

        Returns ``(candidates, delta)``: the cells scored (see :meth:`replace_candidates`; a slice for all) and
        the total change, +inf where a hard rule forbids the swap. The member itself is not a candidate.
        """
        a = self.members[e][slot]
        idx = self.replace_candidates(e, slot, cutoff)
        ens_delta, forbidden = self._ensemble_deltas(e, a, idx)
        delta = ens_delta + self.distinct_w * (self.counts[idx] - self.counts[a] + 1)
        np.putmask(delta, forbidden, np.inf)
        if isinstance(idx, slice):
            delta[a] = np.inf              # staying put is the caller's separate, zero-cost option
        else:
            np.putmask(delta, idx == a, np.inf)
        return idx, delta

    def swap_delta(self, e: int, slot: int, b: int) -> float:
        """Cost change of the single swap member ``slot`` of ``e`` → cell ``b`` (+inf if a hard rule forbids it;
        0 for the member itself). One candidate of :meth:`replace_deltas`, for one-proposal-at-a-time searches."""
        a = int(self.members[e][slot])
        if b == a:
            return 0.0
        idx = np.array([b])
        ens_delta, forbidden = self._ensemble_deltas(e, a, idx)
        if forbidden[0]:
            return float("inf")
        return float(ens_delta[0] + self.distinct_w * (self.counts[b] - self.counts[a] + 1))

    def exchange_deltas(self, e: int, slot: int):
        """Cost changes of exchanging member ``slot`` of ``e`` with each member of every other ensemble.

        Returns ``(slots, delta)``: flat slot indices of the partners and the total change (+inf where
        forbidden); the distinct term does not change, since each cell stays in as many ensembles.
        """
        p, c = self.problem, self.costs
        a = self.members[e][slot]
        slots, f = self._others[e], self._others_ens[e]
        b = self.flat[slots]
        ens_delta, forbidden = self._ensemble_deltas(e, a, b)
        curve_sum = (self.curve_sum[f] - self.curves[b] + self.curves[a]).T
        osi_sum = self.osi_sum[f] - self.osi[b] + self.osi[a]
        pair_sum = self.pair_sum[f] - self.row_dist[f, b] + self.row_dist[f, a] - p.dist_um[a, b]
        crowd_sum = self.crowd_sum[f] - self.row_crowd[f, b] + self.row_crowd[f, a] - p.crowd[a, b]
        new_f = (self.linear_sum[f] - p.linear[f, b] + p.linear[f, a] + c.w_crowd[f] * crowd_sum
                 + c.rule_cost(self._others_params[e], curve_sum, osi_sum, pair_sum))
        delta = ens_delta + (new_f - self.ens_cost[f])
        bad = forbidden | ((self.near[f, a] - p.close[b, a]) != 0)
        if self.max_power is not None:
            bad |= (self.power_sum[f] - self.power[b] + self.power[a]) > self.max_power
        np.putmask(delta, bad, np.inf)
        return slots, delta

    # ------------------------------------------------------------------------------------------- moving
    def apply(self, e: int, slot: int, b: int) -> None:
        """Replace member ``slot`` of ensemble ``e`` by cell ``b`` (assumed allowed), updating all sums."""
        p = self.problem
        a = int(self.members[e][slot])
        if a == b:
            return
        self.pair_sum[e] += (self.row_dist[e, b] - p.dist_um[a, b]) - self.row_dist[e, a]
        self.crowd_sum[e] += (self.row_crowd[e, b] - p.crowd[a, b]) - self.row_crowd[e, a]
        self.row_dist[e] += p.dist_um[b] - p.dist_um[a]
        self.row_crowd[e] += p.crowd[b] - p.crowd[a]
        self.near[e] += p.close[b].astype(np.int32) - p.close[a]
        self.curve_sum[e] += self.curves[b] - self.curves[a]
        self.osi_sum[e] += self.osi[b] - self.osi[a]
        self.linear_sum[e] += p.linear[e, b] - p.linear[e, a]
        self.power_sum[e] += self.power[b] - self.power[a]
        self.counts[a] -= 1
        self.counts[b] += 1
        self.members[e][slot] = b
        self.ens_cost[e] = self._ensemble_cost(e)

    def apply_many(self, ens: np.ndarray, flat_slots: np.ndarray, cells: np.ndarray) -> None:
        """Several replacements at once: member at flat slot ``flat_slots[i]`` of ensemble ``ens[i]`` → cell
        ``cells[i]`` (assumed allowed). The ensembles must be distinct, and so must the old and the new cells
        among themselves (an exchange is two entries: a → b in e, b → a in f). Same sums as :meth:`apply` one by
        one, in a few array operations instead of ~10 per move."""
        p = self.problem
        a = self.flat[flat_slots]
        b = cells
        self.pair_sum[ens] += (self.row_dist[ens, b] - p.dist_um[a, b]) - self.row_dist[ens, a]
        self.crowd_sum[ens] += (self.row_crowd[ens, b] - p.crowd[a, b]) - self.row_crowd[ens, a]
        self.row_dist[ens] += p.dist_um[b] - p.dist_um[a]
        self.row_crowd[ens] += p.crowd[b] - p.crowd[a]
        self.near[ens] += p.close[b].astype(np.int32) - p.close[a]
        self.curve_sum[ens] += self.curves[b] - self.curves[a]
        self.osi_sum[ens] += self.osi[b] - self.osi[a]
        self.linear_sum[ens] += p.linear[ens, b] - p.linear[ens, a]
        self.power_sum[ens] += self.power[b] - self.power[a]
        self.counts[a] -= 1
        self.counts[b] += 1
        self.flat[flat_slots] = b                       # members[e] are views of flat
        self.ens_cost[ens] = self._ensemble_costs(ens)

    def apply_exchange(self, e: int, slot: int, flat_slot: int) -> None:
        """Exchange member ``slot`` of ``e`` with the member at ``flat_slot`` of another ensemble."""
        f = int(self.slot_ens[flat_slot])
        a, b = int(self.members[e][slot]), int(self.flat[flat_slot])
        self.apply(e, slot, b)
        self.apply(f, flat_slot - int(self.offsets[f]), a)

    def snapshot(self) -> list[np.ndarray]:
        return [m.copy() for m in self.members]
