"""The sweep's cheaper code paths compute exactly (bit for bit) what the plain ones do: the one-pass scoring of a
round, the three-operation one-sided hinges and the batched ensemble costs. Exactness, not closeness: the same
seed must draw the same moves whichever path scored them."""
import numpy as np
import pytest

from optimizer import EnsembleGroup, OptimizerSpec, cells_from_frame, synthetic_cells
from optimizer.batch import BatchScorer, _hinge_params, _hinge_w, batch_round
from optimizer.construct import random_feasible
from optimizer.problem import HardLimits, build_problem
from optimizer.search import step
from optimizer.state import SearchState


@pytest.fixture(scope="module")
def one_sided():
    """Every rule one-sided (compact/diffuse × cotuned/untuned, as in the preset): the fast hinges apply."""
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=2, spatial=s, tuning=t)
                                    for s in ("compact", "diffuse") for t in ("cotuned", "untuned")])
    return build_problem(cells_from_frame(synthetic_cells(400, seed=11)), spec, HardLimits())


def _annealed_state(problem, seed):
    """A state some way into an anneal (so that pruning, sharing and exchanges all occur)."""
    rng = np.random.default_rng(seed)
    state = SearchState(problem, random_feasible(problem, rng))
    scorer = BatchScorer(state)
    ens = np.arange(problem.n_ensembles)
    redo = lambda e, slot: step(state, e, slot, 0.005, rng)  # noqa: E731
    for _ in range(15):
        slots = np.array([rng.integers(p.n_cells) for p in problem.plans])
        batch_round(scorer, ens, slots, 0.005, rng, redo)
    return state, rng


@pytest.mark.parametrize("which", ["problem", "one_sided"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_pass_score_equals_replacements_and_exchanges_bit_for_bit(request, which, dtype):
    problem = request.getfixturevalue(which)
    state, rng = _annealed_state(problem, 1)
    scorer = BatchScorer(state, dtype)
    for cutoff in (np.inf, 0.1, 0.02, 0.0):
        ens = rng.permutation(problem.n_ensembles)[:max(2, problem.n_ensembles - 1)]
        slots = np.array([rng.integers(problem.plans[e].n_cells) for e in ens])
        a = state.flat[state.offsets[ens] + slots]
        replace, own = scorer.replacements(ens, a, cutoff)
        exchange = scorer.exchanges(ens, a, own, cutoff)
        both = scorer.score(ens, a, cutoff)
        assert np.array_equal(both, np.concatenate([replace, exchange], axis=1))
        assert np.array_equal(scorer.score(ens, a, cutoff, exchanges=False), replace)
        if cutoff == 0.02:
            assert np.isfinite(both).any() and not np.isfinite(both).all()      # pruning really happened


@pytest.mark.parametrize("lo, hi", [(-np.inf, 195.0), (205.0, np.inf), (100.0, 300.0), (-np.inf, np.inf)])
@pytest.mark.parametrize("weight", [10.0, 0.0])
def test_fast_hinges_equal_the_plain_formula_bit_for_bit(lo, hi, weight):
    rng = np.random.default_rng(2)
    count = np.array([45.0, 45.0])
    w = np.full(2, weight)
    lo_a, hi_a = np.full(2, lo), np.full(2, hi)
    x = rng.uniform(0.0, 400.0, (2, 500)) * count[:, None]                    # sums over 45 pairs
    params = _hinge_params(w / count, lo_a, hi_a, w)
    got = _hinge_w(x, *(v[:, None] for v in params))
    xw = x * (w / count)[:, None]
    with np.errstate(invalid="ignore"):
        lo_w, hi_w = np.nan_to_num(lo_a * w, nan=-np.inf), np.nan_to_num(hi_a * w, nan=np.inf)
    want = np.maximum(np.maximum(lo_w[:, None] - xw, xw - hi_w[:, None]), 0.0)
    assert np.array_equal(got, want)
    assert (len(params) == 2) == (not (np.isfinite(lo) and np.isfinite(hi)))   # one-sided: 3 operations


@pytest.mark.parametrize("which", ["problem", "one_sided"])
def test_batched_ensemble_costs_equal_one_by_one_bit_for_bit(request, which):
    problem = request.getfixturevalue(which)
    for seed in range(5):
        state, _ = _annealed_state(problem, seed)
        ens = np.arange(problem.n_ensembles)
        one = np.array([state._ensemble_cost(e) for e in ens])
        assert np.array_equal(state._ensemble_costs(ens), one)
        assert np.array_equal(state._ensemble_costs(ens[::-1]), one[::-1])
