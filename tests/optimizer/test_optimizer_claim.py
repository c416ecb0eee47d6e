"""Claims (compact ensembles taking back cells held by diffuse ones): never worse, exact, hard rules, seeded."""
import numpy as np

from optimizer import EnsembleGroup, OptimizerSpec, cells_from_frame, synthetic_cells
from optimizer.construct import _design_alone, greedy_start, ranked_centres
from optimizer.problem import HardLimits, build_problem, single_ensemble
from optimizer.search import claim, deep_polish
from optimizer.state import SearchState


def _contest():
    """A compact and a diffuse cotuned ensemble, both at 90°, and a design where the diffuse one holds the cells
    of the compact one's best lone design while the compact one sits around its 20th-ranked centre: a contest
    that single moves leave unresolved."""
    spec = OptimizerSpec(ensembles=[
        EnsembleGroup(count=1, spatial="compact", tuning="cotuned", orientation_deg=[90.0]),
        EnsembleGroup(count=1, spatial="diffuse", tuning="cotuned", orientation_deg=[90.0]),
        EnsembleGroup(count=1, spatial="compact", tuning="untuned")])
    problem = build_problem(cells_from_frame(synthetic_cells(500, seed=3)), spec, HardLimits())
    free = np.zeros(problem.n_cells, dtype=np.int64)
    best, _ = _design_alone(problem, 0, np.random.default_rng(0), free, 10, 4)
    taken = free.copy()
    taken[best] = 1
    compact = greedy_start(problem, 0, int(ranked_centres(problem, 0, taken)[20]), taken)
    taken[compact] += 1
    untuned = greedy_start(problem, 2, int(ranked_centres(problem, 2, taken)[0]), taken)
    state = SearchState(problem, [compact, best, untuned])
    deep_polish(state)
    return problem, state, best


def _hard_rules_met(problem, members):
    for m in members:
        assert len(set(m.tolist())) == len(m)
        d = problem.dist_um[np.ix_(m, m)][np.triu_indices(len(m), 1)]
        assert d.min() >= problem.limits.min_distance_um


def test_claim_resolves_a_contest_the_polish_leaves():
    problem, state, best = _contest()
    before = state.total()
    lone = SearchState(single_ensemble(problem, 0), [best]).total()
    assert state.ens_cost[0] > lone + 0.02            # the polished design is still contested
    members, cost = claim(problem, state.snapshot(), np.random.default_rng(1))
    assert cost < before - 0.01
    after = SearchState(problem, members)            # the returned cost is the design's exact cost
    assert np.isclose(after.total(), cost)
    assert after.ens_cost[0] < state.ens_cost[0] - 0.02
    _hard_rules_met(problem, members)


def test_claim_is_never_worse_and_is_seeded():
    problem, state, _ = _contest()
    polished = state.snapshot()
    a = claim(problem, polished, np.random.default_rng(5))
    b = claim(problem, polished, np.random.default_rng(5))
    assert a[1] <= state.total() + 1e-12
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0]))
    again = claim(problem, a[0], np.random.default_rng(6))    # from a claimed design: nothing worse
    assert again[1] <= a[1] + 1e-12
    _hard_rules_met(problem, again[0])


def test_claim_stops_at_the_deadline():
    problem, state, _ = _contest()
    members, cost = claim(problem, state.snapshot(), np.random.default_rng(1), deadline=-1.0)
    assert all(np.array_equal(x, y) for x, y in zip(members, state.members)) and np.isclose(cost, state.total())
