"""Batched rounds score exactly what one-slot scoring does, prune only negligible moves, draw Boltzmann moves and
keep the running sums exact."""
import numpy as np
import pytest

from optimizer.batch import BatchScorer, batch_round, draw_rows
from optimizer.construct import random_feasible
from optimizer.evaluate import evaluate
from optimizer.search import step
from optimizer.state import SearchState


def _exact(state, e, slot):
    """Replacement deltas over all cells and exchange deltas over all flat slots, one slot at a time."""
    _, replace = state.replace_deltas(e, slot)
    slots, ex = state.exchange_deltas(e, slot)
    exchange = np.full(len(state.flat), np.inf)
    exchange[slots] = ex
    exchange[state.flat == state.members[e][slot]] = np.inf      # a shared cell with itself: no move
    return replace, exchange


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 1e-3)])
def test_batched_deltas_match_one_slot_scoring(problem, dtype, tol):
    rng = np.random.default_rng(0)
    state = SearchState(problem, random_feasible(problem, rng))
    scorer = BatchScorer(state, dtype)
    ens = np.arange(problem.n_ensembles)
    slots = np.array([rng.integers(p.n_cells) for p in problem.plans])
    a = state.flat[state.offsets[ens] + slots]
    replace, own = scorer.replacements(ens, a, np.inf)
    exchange = scorer.exchanges(ens, a, own, np.inf)
    for k, e in enumerate(ens):
        want_r, want_x = _exact(state, e, slots[k])
        for want, got in ((want_r, replace[k]), (want_x, exchange[k])):
            assert np.array_equal(np.isfinite(want), np.isfinite(got))     # same hard-rule mask
            finite = np.isfinite(want)
            assert np.allclose(got[finite], want[finite], rtol=0, atol=tol)


def test_pruning_keeps_every_move_within_the_cutoff(problem):
    rng = np.random.default_rng(1)
    state = SearchState(problem, random_feasible(problem, rng))
    for e in range(problem.n_ensembles):      # settle a little, so that the bound prunes
        for slot in range(problem.plans[e].n_cells):
            step(state, e, slot, 0.0, None)
    scorer = BatchScorer(state, np.float64)
    ens = np.arange(problem.n_ensembles)
    slots = np.zeros(problem.n_ensembles, dtype=int)
    a = state.flat[state.offsets[ens]]
    for cutoff in (0.0, 0.01, 0.1):
        replace, own = scorer.replacements(ens, a, cutoff)
        exchange = scorer.exchanges(ens, a, own, cutoff)
        pruned = 0
        for k, e in enumerate(ens):
            want_r, want_x = _exact(state, e, slots[k])
            for want, got in ((want_r, replace[k]), (want_x, exchange[k])):
                assert np.all(np.isfinite(got[want < cutoff]))
                kept = np.isfinite(got)
                assert np.allclose(got[kept], want[kept], rtol=0, atol=1e-9)
                pruned += np.sum(np.isfinite(want) & ~kept)
        if cutoff == 0.0:
            assert pruned > 0


def test_draws_follow_boltzmann_weights():
    rng = np.random.default_rng(2)
    delta = np.array([[0.01, np.inf, -0.01, 0.02], [np.inf, np.inf, np.inf, 0.0]])
    draws = np.array([draw_rows(delta, 0.01, rng) for _ in range(20000)])
    weights = np.exp(-np.array([0.0, 0.01, np.inf, -0.01, 0.02]) / 0.01)       # staying first
    freq = np.bincount(draws[:, 0] + 1, minlength=5) / len(draws)
    assert freq == pytest.approx(weights / weights.sum(), abs=0.015)
    assert set(np.unique(draws[:, 1]).tolist()) <= {-1, 3}                    # never an infinite entry
    assert np.mean(draws[:, 1] == 3) == pytest.approx(0.5, abs=0.015)


def test_rounds_keep_sums_exact_and_hard_rules(problem):
    rng = np.random.default_rng(3)
    state = SearchState(problem, random_feasible(problem, rng))
    scorer = BatchScorer(state)
    ens = np.arange(problem.n_ensembles)
    redo = lambda e, slot: step(state, e, slot, 0.01, rng)  # noqa: E731
    applied = 0
    for r in range(40):
        slots = np.array([rng.integers(p.n_cells) for p in problem.plans])
        applied += batch_round(scorer, ens, slots, 0.02 if r < 30 else 0.0, rng, redo)
    assert applied > 20
    total, figures = evaluate(problem, state.members)
    assert state.total() == pytest.approx(total, abs=1e-8)
    assert all(all(f["hard"].values()) for f in figures)
