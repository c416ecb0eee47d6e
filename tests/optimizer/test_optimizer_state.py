"""Incremental cost bookkeeping agrees with a from-scratch evaluation, and hard rules are never proposed."""
import numpy as np
import pytest

from optimizer.construct import random_feasible
from optimizer.evaluate import evaluate
from optimizer.state import SearchState
from optimizer.cost import summed_osi
from optimizer.tuning import osi_of_direction_curves


def test_predicted_deltas_match_full_recomputation(problem):
    rng = np.random.default_rng(0)
    state = SearchState(problem, random_feasible(problem, rng))
    assert state.total() == pytest.approx(evaluate(problem, state.members)[0], abs=1e-9)
    moves = 0
    for _ in range(150):
        e = int(rng.integers(problem.n_ensembles))
        slot = int(rng.integers(problem.plans[e].n_cells))
        _, delta = state.replace_deltas(e, slot)
        slots, ex = state.exchange_deltas(e, slot)
        before = state.total()
        if rng.random() < 0.5 and np.isfinite(ex).any():
            j = int(rng.choice(np.flatnonzero(np.isfinite(ex))))
            state.apply_exchange(e, slot, int(slots[j]))
            predicted = ex[j]
        else:
            b = int(rng.choice(np.flatnonzero(np.isfinite(delta))))
            state.apply(e, slot, b)
            predicted = delta[b]
        full = evaluate(problem, state.members)[0]
        assert full - before == pytest.approx(predicted, abs=1e-8)
        assert state.total() == pytest.approx(full, abs=1e-8)
        moves += 1
    assert moves == 150


def test_forbidden_moves_are_exactly_the_hard_rule_breakers(problem):
    rng = np.random.default_rng(1)
    state = SearchState(problem, random_feasible(problem, rng))
    e, slot = 0, 3
    _, delta = state.replace_deltas(e, slot)
    rest = np.delete(state.members[e], slot)
    d_min = problem.dist_um[:, rest].min(axis=1)
    power_after = state.power_sum[e] - problem.cells.power_mw[state.members[e][slot]] + problem.cells.power_mw
    breaks = (d_min < problem.limits.min_distance_um) | (power_after > 400.0)
    a = state.members[e][slot]
    breaks[a] = True          # the member itself is not a candidate (staying put is a separate option)
    assert np.array_equal(~np.isfinite(delta), breaks)


def test_pruned_candidates_contain_every_improving_swap(problem):
    rng = np.random.default_rng(2)
    state = SearchState(problem, random_feasible(problem, rng))
    for e in range(problem.n_ensembles):
        for slot in range(problem.plans[e].n_cells):
            _, full = state.replace_deltas(e, slot)
            for cutoff in (0.0, 0.01, 0.05):
                idx, pruned = state.replace_deltas(e, slot, cutoff)
                if isinstance(idx, slice):
                    idx = np.arange(problem.n_cells)
                below = np.flatnonzero(full <= cutoff)
                assert set(below) <= set(idx.tolist())
                assert np.allclose(pruned, full[idx])


def test_incremental_ensemble_osi_is_the_osi_of_the_mean_curve(problem):
    """The running sums give each ensemble's OSI, and every candidate swap's, exactly as the product-wide
    definition applied to the members' mean raw curve."""
    rng = np.random.default_rng(4)
    cells = problem.cells
    for trial in range(5):
        state = SearchState(problem, random_feasible(problem, rng))
        for e, members in enumerate(state.members):
            mean_curve = cells.resp[members].mean(axis=0)
            expected = osi_of_direction_curves(mean_curve, cells.directions_deg)[0]
            assert summed_osi(state.curve_sum[e])[0] == pytest.approx(expected, abs=1e-12)
            slot = int(rng.integers(len(members)))
            a = members[slot]
            candidates = (state.curve_sum[e] - state.curves[a])[:, None] + state.curves_t
            replaced = np.repeat(members[None, :], problem.n_cells, axis=0)
            replaced[:, slot] = np.arange(problem.n_cells)
            means = cells.resp[replaced].mean(axis=1)
            assert np.allclose(summed_osi(candidates)[0], osi_of_direction_curves(means, cells.directions_deg),
                               rtol=0, atol=1e-12)
