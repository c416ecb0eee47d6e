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


def test_draws_handle_rows_without_moves_and_pick_every_row_from_its_own_entries():
    rng = np.random.default_rng(4)
    assert draw_rows(np.full((3, 5), np.inf), 0.01, rng).tolist() == [-1, -1, -1]    # nothing finite at all
    # Row k has one finite entry, at column k, far below staying put: the draw is that entry, never a neighbour's.
    delta = np.full((6, 6), np.inf)
    np.fill_diagonal(delta, -1.0)
    delta[3, 3] = np.inf                                                              # row 3: only staying
    for _ in range(200):
        assert draw_rows(delta, 0.01, rng).tolist() == [0, 1, 2, -1, 4, 5]


def test_draws_match_the_dense_reference_for_the_same_random_numbers():
    """The sparse draw inverts the same per-row cumulative weights as a dense one: same uniforms, same moves."""
    rng = np.random.default_rng(5)
    delta = rng.normal(0.0, 0.02, (7, 40))
    delta[rng.random(delta.shape) < 0.6] = np.inf
    for temperature in (0.002, 0.02):
        u = np.random.default_rng(6).random(7)
        low = np.minimum(delta.min(axis=1), 0.0)
        weights = np.exp((low[:, None] - delta) / temperature)
        stay = np.exp(low / temperature)
        cumulative = np.cumsum(weights, axis=1)
        target = u * (cumulative[:, -1] + stay) - stay
        dense = np.where(target < 0, -1, np.sum(cumulative <= target[:, None], axis=1))
        assert draw_rows(delta, temperature, np.random.default_rng(6)).tolist() == dense.tolist()


def test_applying_a_round_at_once_equals_one_move_at_a_time(problem):
    rng = np.random.default_rng(7)
    members = random_feasible(problem, rng)
    one, many = SearchState(problem, members), SearchState(problem, members)
    e, f = 0, 1
    a_slot, b_slot = 2, 3
    a, b = int(one.members[e][a_slot]), int(one.members[f][b_slot])
    g_slot = 1
    allowed = np.isfinite(one.replace_deltas(2, g_slot)[1])
    allowed[[a, b]] = False                                              # the round's cells are distinct
    new_g = int(np.flatnonzero(allowed)[0])
    one.apply_exchange(e, a_slot, int(one.offsets[f]) + b_slot)          # e ↔ f, and a replacement in 2
    one.apply(2, g_slot, new_g)
    many.apply_many(np.array([e, f, 2]), np.array([a_slot, one.offsets[f] + b_slot, one.offsets[2] + g_slot]),
                    np.array([b, a, new_g]))
    for name in ("flat", "counts", "near"):
        assert np.array_equal(getattr(one, name), getattr(many, name))
    for name in ("pair_sum", "crowd_sum", "row_dist", "row_crowd", "curve_sum", "osi_sum", "linear_sum",
                 "power_sum", "ens_cost"):
        assert np.allclose(getattr(one, name), getattr(many, name), rtol=0, atol=1e-9)
    assert many.total() == pytest.approx(evaluate(problem, many.members)[0], abs=1e-8)
