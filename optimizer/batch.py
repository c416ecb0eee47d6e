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
        self.sp = _hinge_params(c.w_spatial / c.n_pairs, c.spatial_lo, c.spatial_hi, c.w_spatial)
        self.mean = _hinge_params(c.w_mean / c.n_cells, c.mean_lo, c.mean_hi, c.w_mean)
        g = c.gather(np.arange(len(c.plans)))
        self.tuning = {k: np.asarray(g[k]) for k in ("w_ens_osi", "ens_lo", "ens_hi", "cos_target", "sin_target",
                                                     "tol_inner", "w_orient", "w_pull")}
        self.has_target = c.has_target
        self.any_target = bool(np.any(c.has_target))
        lo, hi = self.tuning["ens_lo"], self.tuning["ens_hi"]
        # One-sided ensemble-OSI rules (every preset rule): max(s·osi − c, 0) with s = +1, c = hi for an upper
        # bound, s = −1, c = −lo for a lower one (c = +inf for none) equals max(lo − osi, osi − hi, 0) exactly.
        self.ens_one_sided = None if np.any(np.isfinite(lo) & np.isfinite(hi)) else (
            np.where(np.isfinite(lo), -1.0, 1.0), np.where(np.isfinite(lo), -lo, hi))
        # Per flat slot (the exchanges' partners), fixed for the state's life: its ensemble's parameters as rows.
        f = state.slot_ens
        self._slot_ens_row = f[None, :]
        self._slot_rows = (f * n)[None, :]
        self._slot_w_crowd = c.w_crowd[f][None, :]
        self._slot_sp = tuple(v[f][None, :] for v in self.sp)
        self._slot_mean = tuple(v[f][None, :] for v in self.mean)
        self.phasor_pair32 = c.phasor_pair.astype(self.dtype)

    def _tuning(self, e: np.ndarray, curve: np.ndarray) -> np.ndarray:
        """Weighted ensemble-OSI and orientation terms for summed curves ``curve`` (D, M) of ensembles ``e`` (M)."""
        osi, folded = summed_osi(curve)
        t = self.tuning
        if self.ens_one_sided is None:
            cost = t["w_ens_osi"][e] * np.maximum(np.maximum(t["ens_lo"][e] - osi, osi - t["ens_hi"][e]), 0.0)
        else:                     # the same values in one operation fewer (see :func:`_hinge_params`)
            sign, c = self.ens_one_sided
            cost = np.multiply(osi, sign[e])
            cost -= c[e]
            cost = t["w_ens_osi"][e] * np.maximum(cost, 0.0, out=cost)
        # Entries of ensembles without a target have zero orientation weights: adding their (zero) terms gives
        # the same sums as skipping them, so the test is per problem, not per entry.
        if self.any_target:
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
        bound, own = self._replacement_bound(ens, a)
        return self._add_tuning(bound, cutoff, ens, self._base(ens, a), self.curves32), own

    def exchanges(self, ens: np.ndarray, a: np.ndarray, own: np.ndarray, cutoff: float) -> np.ndarray:
        """(K, S) cost change of exchanging member ``a[k]`` of ``ens[k]`` with the member in each flat slot of
        the other ensembles (+inf for the same ensemble, forbidden or bounded above ``cutoff``); ``own`` is
        :meth:`replacements`' bound without criterion 1, which an exchange leaves unchanged."""
        st = self.state
        f, b = st.slot_ens, st.flat
        bound = self._exchange_bound(ens, a, own)
        # Tuning of e's side (base: e without a, plus b) and of f's side (f without b, plus a).
        with_e = self._add_tuning(bound, cutoff, ens, self._base(ens, a), self.curves32[b])
        return self._add_tuning(with_e, cutoff, f, self._base(f, b), self.curves32[a], by_row=False)

    def score(self, ens: np.ndarray, a: np.ndarray, cutoff: float, exchanges: bool = True) -> np.ndarray:
        """:meth:`replacements` and (with ``exchanges``) :meth:`exchanges` side by side, (K, N + S), the same
        values, with the tuning terms of every unpruned entry — replacements, and both sides of the exchanges —
        computed in ONE pass (:meth:`_tuning` costs ~30 numpy calls whatever the number of entries; three
        passes per round were a fifth of a sweep)."""
        st = self.state
        n = self.n
        bound, own = self._replacement_bound(ens, a)
        e_base = self._base(ens, a)
        if not exchanges:
            return self._add_tuning(bound, cutoff, ens, e_base, self.curves32)
        f, b = st.slot_ens, st.flat
        x_bound = self._exchange_bound(ens, a, own)
        n_slots = x_bound.shape[1]
        keep_r = np.flatnonzero(bound.reshape(-1) < cutoff)
        keep_x = np.flatnonzero(x_bound.reshape(-1) < cutoff)
        rows_r = keep_r // n
        cols_r = keep_r - rows_r * n
        rows_x = keep_x // n_slots
        cols_x = keep_x - rows_x * n_slots
        m_r, m_x = len(keep_r), len(keep_x)
        # Curves of: e without a plus cell c (replacements), plus b (exchanges, e's side); f without b plus a.
        m_e = m_r + m_x
        rows = np.concatenate([rows_r, rows_x])
        added = np.concatenate([cols_r, np.take(b, cols_x)])
        curve = np.empty((m_e + m_x, self.curves32.shape[1]), dtype=self.dtype)
        np.add(np.take(e_base, rows, axis=0), np.take(self.curves32, added, axis=0), out=curve[:m_e])
        np.add(np.take(self._base(f, b), cols_x, axis=0), np.take(self.curves32, np.take(a, rows_x), axis=0),
               out=curve[m_e:])
        which = np.concatenate([np.take(ens, rows), np.take(f, cols_x)])
        tuning = self._tuning(which, np.ascontiguousarray(curve.T))
        width = n + n_slots
        delta = np.full((len(ens), width), np.inf)
        flat = delta.reshape(-1)
        flat[rows_r * width + cols_r] = np.take(bound.reshape(-1), keep_r) + tuning[:m_r]
        with_e = np.take(x_bound.reshape(-1), keep_x) + tuning[m_r:m_e]
        # As :meth:`exchanges`: f's side is added only where e's side left the entry below the cutoff.
        flat[rows_x * width + n + cols_x] = np.where(with_e < cutoff, with_e + tuning[m_e:], np.inf)
        return delta

    def _base(self, ens: np.ndarray, a: np.ndarray) -> np.ndarray:
        """(K, D) summed curves of ensembles ``ens`` without members ``a``, in the scoring dtype."""
        st = self.state
        return (st.curve_sum[ens] - st.curves[a]).astype(self.dtype)

    def _replacement_bound(self, ens: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`replacements` without the tuning terms (the lower bound), and that bound without criterion 1.
        In-place operations in the order of the plain expressions (the same floating-point values): each (K, N)
        temporary is an allocation and a pass over memory."""
        st, p = self.state, self.state.problem
        k_idx = np.arange(len(a))
        pair = st.row_dist[ens]
        pair_const = st.pair_sum[ens] - pair[k_idx, a]
        pair -= p.dist_um[a]
        pair += pair_const[:, None]
        crowd = st.row_crowd[ens]
        crowd_const = st.crowd_sum[ens] - crowd[k_idx, a]
        crowd -= p.crowd[a]
        crowd += crowd_const[:, None]
        osi_sum = np.add(st.osi[None, :], (st.osi_sum[ens] - st.osi[a])[:, None])
        own = p.linear[ens]
        lin_const = st.linear_sum[ens] - own[k_idx, a] - st.ens_cost[ens]
        crowd *= st.costs.w_crowd[ens][:, None]
        own += crowd
        own += lin_const[:, None]
        own += _hinge_w(pair, *(v[ens][:, None] for v in self.sp), out=pair)
        own += _hinge_w(osi_sum, *(v[ens][:, None] for v in self.mean), out=osi_sum)
        forbidden = np.not_equal(st.near[ens], p.close[a])
        if st.max_power is not None:
            forbidden |= (st.power_sum[ens] - st.power[a])[:, None] + st.power[None, :] > st.max_power
        np.putmask(own, forbidden, np.inf)
        bound = np.add(own, st.distinct_w * st.counts, out=crowd)
        bound += (st.distinct_w * (1 - st.counts[a]))[:, None]
        bound[k_idx, a] = np.inf
        return bound, own

    def _exchange_bound(self, ens: np.ndarray, a: np.ndarray, own: np.ndarray) -> np.ndarray:
        """:meth:`exchanges` without the tuning terms of either side (the lower bound), in-place as
        :meth:`_replacement_bound`."""
        st, p = self.state, self.state.problem
        f, b = st.slot_ens, st.flat                                         # (S,) partner ensembles, cells
        e_side = np.take(own, b, axis=1)                                    # bound of a → b in e
        # (K, S) gathers as flat takes (much cheaper than 2-D fancy indexing): [f, a] and [a, b] entries.
        fa = self._slot_rows + a[:, None]
        ab = (a * self.n)[:, None] + b[None, :]
        f_side = np.take(p.linear, fa)
        f_side += (st.linear_sum[f] - p.linear[f, b] - st.ens_cost[f])[None, :]
        pair = np.take(st.row_dist, fa)                                     # a's distances to f's members
        pair -= np.take(p.dist_um, ab)
        pair += (st.pair_sum[f] - st.row_dist[f, b])[None, :]
        crowd = np.take(st.row_crowd, fa)
        crowd -= np.take(p.crowd, ab)
        crowd += (st.crowd_sum[f] - st.row_crowd[f, b])[None, :]
        osi_sum = np.add(st.osi[a][:, None], (st.osi_sum[f] - st.osi[b])[None, :])
        crowd *= self._slot_w_crowd
        f_side += crowd
        f_side += _hinge_w(pair, *self._slot_sp, out=pair)
        f_side += _hinge_w(osi_sum, *self._slot_mean, out=osi_sum)
        bad = np.equal(self._slot_ens_row, ens[:, None])
        bad |= a[:, None] == b[None, :]
        bad |= np.take(st.near, fa) != np.take(p.close, ab)                 # close is symmetric
        if st.max_power is not None:
            bad |= (st.power_sum[f] - st.power[b])[None, :] + st.power[a][:, None] > st.max_power
        np.putmask(f_side, bad, np.inf)
        e_side += f_side
        return e_side


def _finite(v: np.ndarray) -> np.ndarray:
    """Infinite hinge bounds (a side without a rule) as ±1e300, so that 0 × bound stays 0."""
    return np.clip(v, -1e300, 1e300)


def _hinge_params(w: np.ndarray, lo: np.ndarray, hi: np.ndarray, weight: np.ndarray) -> tuple:
    """Per-ensemble parameters of :func:`_hinge_w` for the hinge ``weight``·(distance of x·w/weight outside
    [lo, hi]) on sums x (w = weight / count).

    When no ensemble has both bounds finite (compact or diffuse, cotuned or untuned: every preset rule), the
    hinge is one-sided per ensemble and is returned as (s·w, c): max(x·s·w − c, 0) with s = +1, c = w·hi for an
    upper bound and s = −1, c = −w·lo for a lower one — the same floating-point values as the two-sided form
    (a sign flip is exact, and −(x·w) − (−w·lo) rounds as w·lo − x·w), in three array operations instead of
    five. An ensemble without the rule gets c = 1e300 (the hinge is 0; so it is with weight 0)."""
    upper, lower = np.isfinite(hi), np.isfinite(lo)
    lo_w = np.where(lower, np.where(lower, lo, 0.0) * weight, -np.inf)     # no 0 × inf = nan for weight 0
    hi_w = np.where(upper, np.where(upper, hi, 0.0) * weight, np.inf)
    if np.any(upper & lower):
        return w, _finite(lo_w), _finite(hi_w)
    sign = np.where(lower, -1.0, 1.0)
    c = np.where(upper, hi_w, np.where(lower, -lo_w, 1e300))
    return sign * w, c


def _hinge_w(x: np.ndarray, *params: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """w·(distance of x outside [lo, hi]) for sums x, with :func:`_hinge_params`' parameters (columns or rows
    broadcast against x): (w, w·lo, w·hi) in general, (s·w, c) when one-sided. ``out`` may be ``x`` itself."""
    if len(params) == 2:
        sw, c = params
        out = np.multiply(x, sw, out=out)
        out -= c
        return np.maximum(out, 0.0, out=out)
    w, lo_w, hi_w = params
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
    a = st.flat[st.offsets[ens] + slots]
    cutoff = CUTOFF_TEMPERATURES * temperature
    delta = scorer.score(ens, a, cutoff, exchanges)
    n = scorer.n
    if temperature > 0:
        choice = draw_rows(delta, temperature, rng)
        order = rng.permutation(len(ens)).tolist()
    else:
        best = np.argmin(delta, axis=1)
        choice = np.where(delta[np.arange(len(ens)), best] < -IMPROVEMENT, best, -1)
        order = range(len(ens))
    cells: set = set()
    changed: set = set()
    conflicts = []
    moved_ens, moved_slots, moved_cells = [], [], []
    applied = 0
    # Python lists: indexing them is several times cheaper than numpy scalars in this sequential loop.
    choice_l, ens_l, a_l = choice.tolist(), ens.tolist(), a.tolist()
    flat_slot_l = (st.offsets[ens] + slots).tolist()
    for k in order:
        c = choice_l[k]
        if c < 0:
            continue
        e, old = ens_l[k], a_l[k]
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
        moved_slots.append(flat_slot_l[k])
        moved_cells.append(new)
        if c >= n:                          # the exchange's other half: f's member b → a
            moved_ens.append(involved[1])
            moved_slots.append(partner)
            moved_cells.append(old)
        applied += 1
    if applied:
        st.apply_many(np.array(moved_ens), np.array(moved_slots), np.array(moved_cells))
    return applied, np.sort(np.array(conflicts, dtype=np.int64))
