"""Incremental cost bookkeeping agrees with a from-scratch evaluation, and hard rules are never proposed."""
import numpy as np
import pytest

from optimizer import EnsembleGroup, OptimizerSpec, cells_from_frame, synthetic_cells
from optimizer.construct import random_feasible
from optimizer.evaluate import evaluate
from optimizer.problem import HardLimits, build_problem
from optimizer.state import SearchState


@pytest.fixture(scope="module")
def problem():
    spec = OptimizerSpec(ensembles=[
        EnsembleGroup(count=2, spatial="compact", tuning="cotuned"),
        EnsembleGroup(count=1, spatial="diffuse", tuning="untuned", cells=8),
        EnsembleGroup(count=1, spatial=[100, 300], tuning="any")])
    cells = cells_from_frame(synthetic_cells(300, seed=5))
    return build_problem(cells, spec, HardLimits(max_total_power_mw=400.0))


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
