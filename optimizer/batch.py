"""Batched annealing rounds: one slot of each of K ensembles scored against every candidate move in one pass.

A single heat-bath step (:func:`~optimizer.search.step`) spends most of its time on numpy call overhead: scoring
~1,000 candidates of one slot takes some 60 array operations on arrays of ~1,000 values. An ensemble's own cost
depends only on its own members, so the candidates of one slot in each of K *different* ensembles can be scored
together, as (K, N) replacement and (K, S) exchange arrays, by the same operations — the per-call overhead is
paid once per round instead of K times. A cheap lower bound (every term but the ensemble-OSI and orientation
terms, which are ≥ 0) is computed for every candidate; only those within :data:`CUTOFF_TEMPERATURES` · T of
staying put get the tuning terms, on their summed curves in float32 while annealing (float64 for the greedy
polish); the moves applied are re-scored exactly in float64 by :meth:`SearchState.apply`.

The moves are then drawn for all K slots at once from their heat-bath distributions p ∝ exp(−Δ/T) over staying,
every replacement and every exchange. Ensembles are coupled only through criterion 1 (cells shared between
ensembles) and exchanges: a draw is exact for the state at the start of the round, so a move whose ensembles or
cells an earlier move of the round (in a random order) already changed is drawn again from the new state. What
is left inexact is only the normaliser of the other slots' distributions (the handful of cells whose counts
changed in the round), which does not matter to annealing.
"""
from __future__ import annotations

import numpy as np

from .cost import summed_osi
from .state import SearchState


#: Candidates whose cost change is bounded below by this many temperatures are not scored in full: their
#: heat-bath weight is below e^-12 of staying put's.
CUTOFF_TEMPERATURES = 12.0

#: A greedy (temperature-0) move must lower the cost by more than this (the search's rounding guard).
IMPROVEMENT = 1e-9


class BatchScorer:
    """Cached float32 curves and per-ensemble cost parameters for :func:`batch_round` on one state."""

    def __init__(self, state: SearchState, dtype=np.float32):
        """``dtype`` of the summed tuning curves: float32 for annealing (errors ~1e-5, far below the
        temperatures), float64 for the greedy polish, whose improvement threshold is 1e-9."""
        self.state = state
        self.dtype = dtype
        c = state.costs
        self.curves32 = state.curves.astype(dtype)                          # (N, D)
        n = state.problem.n_cells
        self.n = n
        # Hinges as max(lo − x, x − hi, 0) on pre-weighted sums: x·w − hi·w needs one multiply per candidate.
        sp_w = c.w_spatial / c.n_pairs
        self.sp = (sp_w, _finite(c.spatial_lo * c.w_spatial), _finite(c.spatial_hi * c.w_spatial))
        mean_w = c.w_mean / c.n_cells
        self.mean = (mean_w, _finite(c.mean_lo * c.w_mean), _finite(c.mean_hi * c.w_mean))
        g = c.gather(np.arange(len(c.plans)))
        self.tuning = {k: np.asarray(g[k]) for k in ("w_ens_osi", "ens_lo", "ens_hi", "cos_target", "sin_target",
                                                     "tol_inner", "w_orient", "w_pull")}
        self.has_target = c.has_target
        self.phasor_pair32 = c.phasor_pair.astype(self.dtype)

    def _tuning(self, e: np.ndarray, curve: np.ndarray) -> np.ndarray:
        """Weighted ensemble-OSI and orientation terms for summed curves ``curve`` (D, M) of ensembles ``e`` (M)."""
        osi, folded = summed_osi(curve)
        t = self.tuning
        cost = t["w_ens_osi"][e] * np.maximum(np.maximum(t["ens_lo"][e] - osi, osi - t["ens_hi"][e]), 0.0)
        if self.has_target[e].any():
            y, x = self.phasor_pair32 @ folded
            cos_t, sin_t = t["cos_target"][e], t["sin_target"][e]
            err = np.abs(np.arctan2(y * cos_t - x * sin_t, x * cos_t + y * sin_t)) * (90.0 / np.pi)
            cost += t["w_orient"][e] * np.maximum(err - t["tol_inner"][e], 0.0) + t["w_pull"][e] * err
        return cost

    def _add_tuning(self, total: np.ndarray, cutoff: float, ens: np.ndarray, base: np.ndarray, add: np.ndarray,
                    by_row: bool = True) -> np.ndarray:
        """``total`` (K, C) plus the tuning terms where it is below ``cutoff`` (+inf elsewhere; the terms are
        ≥ 0). With ``by_row``, entry (k, c) is ensemble ``ens[k]`` with summed curve ``base[k] + add[c]``;
        otherwise ensemble ``ens[c]`` with ``base[c] + add[k]``."""
        flat = total.reshape(-1)
        keep = np.flatnonzero(flat < cutoff)
        rows = keep // total.shape[1]
        cols = keep - rows * total.shape[1]
        own, other = (rows, cols) if by_row else (cols, rows)
        curve = np.take(base, own, axis=0) + np.take(add, other, axis=0)
        out = np.full(flat.size, np.inf)
        out[keep] = np.take(flat, keep) + self._tuning(np.take(ens, own), np.ascontiguousarray(curve.T))
        return out.reshape(total.shape)

    def replacements(self, ens: np.ndarray, a: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
        """(K, N) cost change of replacing member ``a[k]`` of ensemble ``ens[k]`` (distinct ensembles) by each
        cell; +inf where a hard rule forbids it, for the member itself, and where a lower bound (every term but
        the ensemble-OSI and orientation terms, which are ≥ 0) already exceeds ``cutoff``. Also returns that
        bound without criterion 1, for :meth:`exchanges`."""
        st, p = self.state, self.state.problem
        k_idx = np.arange(len(a))
        row_dist, row_crowd = st.row_dist[ens], st.row_crowd[ens]
        pair = row_dist - p.dist_um[a]
        pair += (st.pair_sum[ens] - row_dist[k_idx, a])[:, None]
        crowd = row_crowd - p.crowd[a]
        crowd += (st.crowd_sum[ens] - row_crowd[k_idx, a])[:, None]
        osi_sum = st.osi[None, :] + (st.osi_sum[ens] - st.osi[a])[:, None]
        lin = p.linear[ens]
        own = lin + st.costs.w_crowd[ens][:, None] * crowd
        own += (st.linear_sum[ens] - lin[k_idx, a] - st.ens_cost[ens])[:, None]
        own += _hinge_w(pair, *(v[ens][:, None] for v in self.sp))
        own += _hinge_w(osi_sum, *(v[ens][:, None] for v in self.mean))
        forbidden = st.near[ens] != p.close[a]
        if st.max_power is not None:
            forbidden |= (st.power_sum[ens] - st.power[a])[:, None] + st.power[None, :] > st.max_power
        own[forbidden] = np.inf
        bound = own + st.distinct_w * st.counts
        bound += (st.distinct_w * (1 - st.counts[a]))[:, None]
        bound[k_idx, a] = np.inf
        base = (st.curve_sum[ens] - st.curves[a]).astype(self.dtype)
        return self._add_tuning(bound, cutoff, ens, base, self.curves32), own

    def exchanges(self, ens: np.ndarray, a: np.ndarray, own: np.ndarray, cutoff: float) -> np.ndarray:
        """(K, S) cost change of exchanging member ``a[k]`` of ``ens[k]`` with the member in each flat slot of
        the other ensembles (+inf for the same ensemble, forbidden or bounded above ``cutoff``); ``own`` is
        :meth:`replacements`' bound without criterion 1, which an exchange leaves unchanged."""
        st, p = self.state, self.state.problem
        f, b = st.slot_ens, st.flat                                         # (S,) partner ensembles, cells
        e_side = np.take(own, b, axis=1)                                    # bound of a → b in e
        # (K, S) gathers as flat takes (much cheaper than 2-D fancy indexing): [f, a] and [a, b] entries.
        fa = (f * self.n)[None, :] + a[:, None]
        ab = (a * self.n)[:, None] + b[None, :]
        lin = np.take(p.linear, fa) + (st.linear_sum[f] - p.linear[f, b] - st.ens_cost[f])[None, :]
        pair = np.take(st.row_dist, fa) - np.take(p.dist_um, ab)            # a's distances to f's members
        pair += (st.pair_sum[f] - st.row_dist[f, b])[None, :]
        crowd = np.take(st.row_crowd, fa) - np.take(p.crowd, ab)
        crowd += (st.crowd_sum[f] - st.row_crowd[f, b])[None, :]
        osi_sum = st.osi[a][:, None] + (st.osi_sum[f] - st.osi[b])[None, :]
        f_side = lin + st.costs.w_crowd[f][None, :] * crowd
        f_side += _hinge_w(pair, *(v[f][None, :] for v in self.sp))
        f_side += _hinge_w(osi_sum, *(v[f][None, :] for v in self.mean))
        bad = (f[None, :] == ens[:, None]) | (a[:, None] == b[None, :])
        bad |= np.take(st.near, fa) != np.take(p.close, ab)                 # close is symmetric
        if st.max_power is not None:
            bad |= (st.power_sum[f] - st.power[b])[None, :] + st.power[a][:, None] > st.max_power
        f_side[bad] = np.inf
        bound = e_side + f_side
        # Tuning of e's side (base: e without a, plus b) and of f's side (f without b, plus a).
        e_base = (st.curve_sum[ens] - st.curves[a]).astype(self.dtype)
        with_e = self._add_tuning(bound, cutoff, ens, e_base, self.curves32[b])
        f_base = (st.curve_sum[f] - st.curves[b]).astype(self.dtype)        # (S, D)
        return self._add_tuning(with_e, cutoff, f, f_base, self.curves32[a], by_row=False)


def _finite(v: np.ndarray) -> np.ndarray:
    """Infinite hinge bounds (a side without a rule) as ±1e300, so that 0 × bound stays 0."""
    return np.clip(v, -1e300, 1e300)


def _hinge_w(x: np.ndarray, w: np.ndarray, lo_w: np.ndarray, hi_w: np.ndarray) -> np.ndarray:
    """w·(distance of x outside [lo, hi]) for sums x and w, w·lo, w·hi broadcast against them."""
    xw = x * w
    return np.maximum(np.maximum(lo_w - xw, xw - hi_w), 0.0)


def draw_rows(delta: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """Per row, a column drawn with probability ∝ exp(−Δ/T) over staying put (Δ = 0) and the row's entries;
    −1 for staying. +inf entries are never drawn.

    Works on the finite entries only (after pruning, a few percent to a third of them): one cumulative sum over
    all rows' weights, each row's draw a search within its own stretch of it."""
    n_rows, n_cols = delta.shape
    flat = delta.reshape(-1)
    keep = np.flatnonzero(flat < np.inf)
    if not len(keep):
        return np.full(n_rows, -1)
    rows = keep // n_cols
    low = np.minimum(delta.min(axis=1), 0.0)
    inv_t = 1.0 / temperature
    cumulative = np.cumsum(np.exp((low[rows] - flat[keep]) * inv_t))
    ends = np.searchsorted(rows, np.arange(n_rows), side="right")       # each row's stretch: [ends[k-1], ends[k])
    before = np.concatenate([[0.0], cumulative])[np.concatenate([[0], ends[:-1]])]
    total = np.concatenate([[0.0], cumulative])[ends] - before
    stay = np.exp(low * inv_t)
    u = rng.random(n_rows) * (total + stay) - stay
    pos = np.searchsorted(cumulative, before + np.maximum(u, 0.0), side="right")
    pos = np.minimum(pos, np.maximum(ends - 1, 0))                        # rounding at a stretch's end
    choice = np.take(keep, pos, mode="clip") - np.arange(n_rows) * n_cols
    return np.where(u < 0, -1, choice)


def batch_round(scorer: BatchScorer, ens: np.ndarray, slots: np.ndarray, temperature: float,
                rng: np.random.Generator | None, redo, exchanges: bool = True) -> int:
    """One heat-bath move for slot ``slots[k]`` of each ensemble ``ens[k]`` (distinct ensembles): staying,
    any replacement, or (with ``exchanges``) an exchange with any member of another ensemble. At temperature 0
    the best improvement (by more than :data:`IMPROVEMENT`), if any, in the ensembles' order (``rng`` unused).

    Draws all K moves from one batched scoring, then processes them in a random order, applying each unless an
    earlier move of the round changed one of its ensembles or took or released one of its cells. Such moves
    are drawn again, batched, from the new state, up to :data:`REDRAWS` draws in all; what still conflicts then
    stays put when annealing (a skipped visit), and is made one by one through ``redo(e, slot)`` at T = 0.
    Returns the number of moves applied.
    """
    applied = 0
    for _ in range(REDRAWS):
        done, left = _draw_and_apply(scorer, ens, slots, temperature, rng, exchanges)
        applied += done
        if not len(left):
            return applied
        ens, slots = ens[left], slots[left]
    if temperature <= 0:         # the greedy polish must end in a true local optimum: finish one by one
        for e, slot in zip(ens.tolist(), slots.tolist()):
            redo(e, slot)
    return applied


#: Batched draws per round for the moves that conflicted with earlier ones, before they are made one by one.
REDRAWS = 2


def _draw_and_apply(scorer: BatchScorer, ens: np.ndarray, slots: np.ndarray, temperature: float,
                    rng: np.random.Generator | None, exchanges: bool) -> tuple[int, np.ndarray]:
    """Score, draw and apply the non-conflicting moves of one batched round (see :func:`batch_round`); returns
    (moves applied, indices of the conflicting rows, sorted)."""
    st = scorer.state
    n = st.problem.n_cells
    a = st.flat[st.offsets[ens] + slots]
    cutoff = CUTOFF_TEMPERATURES * temperature
    delta, own = scorer.replacements(ens, a, cutoff)
    if exchanges:
        delta = np.concatenate([delta, scorer.exchanges(ens, a, own, cutoff)], axis=1)
    if temperature > 0:
        choice = draw_rows(delta, temperature, rng)
        order = rng.permutation(len(ens))
    else:
        best = np.argmin(delta, axis=1)
        choice = np.where(delta[np.arange(len(ens)), best] < -IMPROVEMENT, best, -1)
        order = range(len(ens))
    cells: set = set()
    changed: set = set()
    conflicts = []
    moved_ens, moved_slots, moved_cells = [], [], []
    applied = 0
    for k in order:
        c = int(choice[k])
        if c < 0:
            continue
        e, old = int(ens[k]), int(a[k])
        slot = int(st.offsets[e]) + int(slots[k])
        if c < n:
            involved, new = (e,), c
        else:
            partner = c - n
            involved, new = (e, int(st.slot_ens[partner])), int(st.flat[partner])
        if new in cells or old in cells or any(x in changed for x in involved):
            conflicts.append(k)
            continue
        cells.update((new, old))
        changed.update(involved)
        moved_ens.append(e)
        moved_slots.append(slot)
        moved_cells.append(new)
        if c >= n:                          # the exchange's other half: f's member b → a
            moved_ens.append(involved[1])
            moved_slots.append(partner)
            moved_cells.append(old)
        applied += 1
    if applied:
        st.apply_many(np.array(moved_ens), np.array(moved_slots), np.array(moved_cells))
    return applied, np.sort(np.array(conflicts, dtype=np.int64))
