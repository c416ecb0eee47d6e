"""Search pieces: heat-bath draws, polish reaches a local optimum, repair, and the time budget."""
import time

import numpy as np
import pytest

from optimizer import EnsembleGroup, OptimizerSpec, cells_from_frame, synthetic_cells
from optimizer.construct import random_feasible, repair
from optimizer.evaluate import evaluate
from optimizer.problem import HardLimits, build_problem
from optimizer.search import anneal, heat_bath_choice, polish
from optimizer.state import SearchState


@pytest.fixture(scope="module")
def problem():
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=2, spatial="compact", tuning="cotuned"),
                                    EnsembleGroup(count=1, spatial="diffuse", tuning="untuned")])
    return build_problem(cells_from_frame(synthetic_cells(500, seed=3)), spec, HardLimits())


def test_heat_bath_follows_boltzmann_weights():
    rng = np.random.default_rng(0)
    delta = np.array([0.0, 0.01, np.inf, 0.02])
    draws = np.bincount([heat_bath_choice(delta, 0.01, rng) for _ in range(20000)], minlength=4) / 20000
    expected = np.exp(-np.array([0.0, 1.0, np.inf, 2.0]))
    assert draws == pytest.approx(expected / expected.sum(), abs=0.015)
    assert heat_bath_choice(np.array([0.0, -0.5, 0.2]), 0.0, None) == 1
    assert heat_bath_choice(np.array([0.0, 0.1, 0.2]), 0.0, None) == -1    # nothing improves


def test_polish_ends_in_a_local_optimum(problem):
    state = SearchState(problem, random_feasible(problem, np.random.default_rng(1)))
    polish(state, max_sweeps=50)
    for e in range(problem.n_ensembles):
        for slot in range(problem.plans[e].n_cells):
            _, delta = state.replace_deltas(e, slot)
            _, ex = state.exchange_deltas(e, slot)
            assert delta.min() > -1e-9 and ex.min() > -1e-9


def test_repair_fixes_an_ensemble_left_missing_a_rule(problem):
    members, _, _ = anneal(problem, random_feasible(problem, np.random.default_rng(2)), np.random.default_rng(2), 10)
    figs = evaluate(problem, members)[1]
    assert all(all(f["rules"].values()) for f in figs)
    broken = [m.copy() for m in members]
    broken[0] = random_feasible(problem, np.random.default_rng(9))[0]        # a random, scattered ensemble 0
    assert not all(evaluate(problem, broken)[1][0]["rules"].values())
    fixed = repair(problem, broken, np.random.default_rng(3))
    assert all(evaluate(problem, fixed)[1][0]["rules"].values())
    assert all(np.array_equal(a, b) for a, b in zip(fixed[1:], broken[1:]))  # the others untouched


def test_an_expired_budget_still_gives_a_valid_cold_design(problem):
    rng = np.random.default_rng(4)
    start = random_feasible(problem, rng)
    members, cost, stats = anneal(problem, start, rng, sweeps=100, deadline=time.perf_counter() - 1.0)
    assert stats.sweeps == 1 and stats.timed_out
    assert cost < evaluate(problem, start)[0]
    figs = evaluate(problem, members)[1]
    assert all(all(f["hard"].values()) for f in figs)
