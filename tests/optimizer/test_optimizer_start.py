"""The start of the search: compact cotuned ensembles placed first, by lone anneals, then the others greedily."""
import numpy as np
import pandas as pd
import pytest

from optimizer import EnsembleGroup, OptimizerSpec, cells_from_frame, design_ensembles, synthetic_cells
from optimizer.construct import leads, sequential_start, start_order
from optimizer.evaluate import ensemble_figures
from optimizer.problem import HardLimits, build_problem
from optimizer.search import LEAD_SWEEPS, LEAD_SWEEPS_IN_ALL, lead_tries

DIRECTIONS = np.arange(0, 360, 45)


@pytest.fixture(scope="module")
def mixed():
    spec = OptimizerSpec(ensembles=[
        EnsembleGroup(count=2, spatial="diffuse", tuning="untuned"),
        EnsembleGroup(count=2, spatial="diffuse", tuning="cotuned"),
        EnsembleGroup(count=2, spatial="compact", tuning="untuned"),
        EnsembleGroup(count=2, spatial="compact", tuning="cotuned")])
    return build_problem(cells_from_frame(synthetic_cells(600, seed=4)), spec, HardLimits())


def _kind(plan) -> int:
    local, target = bool(np.isfinite(plan.spatial_um[1])), plan.target_deg is not None
    return {(True, True): 0, (True, False): 1, (False, True): 2, (False, False): 3}[(local, target)]


def test_start_order_puts_the_most_constrained_first(mixed):
    kinds = [_kind(p) for p in mixed.plans]
    orders = [start_order(mixed, np.random.default_rng(s)) for s in range(6)]
    for order in orders:
        assert sorted(order) == list(range(mixed.n_ensembles))
        assert [kinds[e] for e in order] == sorted(kinds)     # compact cotuned, compact, cotuned, the rest
    assert len({tuple(o) for o in orders}) > 1                # random within each class
    assert start_order(mixed, np.random.default_rng(3)) == start_order(mixed, np.random.default_rng(3))
    assert leads(mixed).tolist() == [k == 0 for k in kinds]


def test_lone_sweeps_of_the_start_are_bounded_whatever_the_number_of_leads():
    cells = cells_from_frame(synthetic_cells(400, seed=1))
    tries = {}
    for n in (0, 1, 5, 10, 17):
        groups = [EnsembleGroup(count=n, spatial="compact", tuning="cotuned")] if n else []
        groups += [EnsembleGroup(count=3, spatial="diffuse", tuning="cotuned")]
        problem = build_problem(cells, OptimizerSpec(ensembles=groups), HardLimits())
        tries[n] = lead_tries(problem)
        assert n * tries[n] * LEAD_SWEEPS <= LEAD_SWEEPS_IN_ALL
    assert tries == {0: 4, 1: 4, 5: 4, 10: 2, 17: 1}


def test_start_places_the_leads_on_distinct_cells_meeting_their_rules(mixed):
    members = sequential_start(mixed, np.random.default_rng(0), lead_sweeps=4, lead_tries=2)
    lead = np.flatnonzero(leads(mixed))
    for e in lead:
        assert all(ensemble_figures(mixed, int(e), members[e])["rules"].values())
    held = np.concatenate([members[e] for e in lead])
    assert len(set(held.tolist())) == len(held)               # criterion 1 counted: no cell shared
    again = sequential_start(mixed, np.random.default_rng(0), lead_sweeps=4, lead_tries=2)
    assert all(np.array_equal(a, b) for a, b in zip(members, again))


def _curve(pref_deg: float) -> np.ndarray:
    theta = np.deg2rad(DIRECTIONS - pref_deg)
    return 0.6 * (np.exp(3.0 * (np.cos(theta) - 1.0)) + 0.5 * np.exp(3.0 * (np.cos(theta - np.pi) - 1.0)))


def _contest_table() -> pd.DataFrame:
    """A compact cotuned ensemble at 0° has one cheap site, cluster A (10 cells at 12.5 mW); its other site,
    cluster B, costs 37.5 mW a cell. A diffuse cotuned ensemble at 0° would also like A's cells, but can take
    scattered 25-mW cells tuned at 0° anywhere; a diffuse untuned ensemble takes the 25 untuned 12.5-mW cells.
    Optimum: compact = A, diffuse cotuned = scattered tuned cells."""
    rng = np.random.default_rng(7)
    grid = np.array([(x, y) for x in range(4) for y in range(3)])[:10] * 85.0    # uncrowded (criterion 6)
    a = grid + [-350.0, -350.0]
    b = grid + [80.0, 100.0]
    scattered = []
    while len(scattered) < 55:
        p = rng.uniform(-390, 390, 2)
        if min(np.linalg.norm(a - p, axis=1).min(), np.linalg.norm(b - p, axis=1).min()) < 150:
            continue
        if scattered and np.linalg.norm(np.array(scattered) - p, axis=1).min() < 40:
            continue
        scattered.append(p)
    xy = np.vstack([a, b, np.array(scattered)])
    power = np.r_[np.full(10, 12.5), np.full(10, 37.5), np.full(30, 25.0), np.full(25, 12.5)]
    curves = np.array([_curve(rng.normal(0.0, 3.0)) for _ in range(50)]
                      + [0.3 + rng.normal(0.0, 0.01, len(DIRECTIONS)) for _ in range(25)])
    frame = pd.DataFrame({"id": np.arange(len(xy)), "x_um": xy[:, 0], "y_um": xy[:, 1], "z_um": 0.0,
                          "responsive": True, "power_mw": power, "uses": 0})
    for j, d in enumerate(DIRECTIONS):
        frame[f"resp_{d}"] = curves[:, j]
    return frame


def test_the_compact_cotuned_ensemble_gets_its_scarce_site_first():
    """Listed last, the compact ensemble is still designed first and takes the cheap site A (a diffuse-first
    greedy start would take A's cells and push it to B, or to a spread-out mix): every member at 12.5 mW, none
    from B."""
    spec = OptimizerSpec(ensembles=[
        EnsembleGroup(count=1, spatial="diffuse", tuning="cotuned", orientation_deg=[0.0]),
        EnsembleGroup(count=1, spatial="diffuse", tuning="untuned"),
        EnsembleGroup(count=1, spatial="compact", tuning="cotuned", orientation_deg=[0.0])])
    table = _contest_table()
    cells = cells_from_frame(table)
    problem = build_problem(cells, spec, HardLimits())
    site_a, site_b = set(range(10)), set(range(10, 20))
    for seed in range(3):
        members = sequential_start(problem, np.random.default_rng(seed), lead_sweeps=2, lead_tries=2)
        compact = set(members[2].tolist())
        assert len(compact & site_a) >= 8 and not compact & site_b
        assert np.all(table["power_mw"].to_numpy()[members[2]] == 12.5)
        assert not compact & set(members[0].tolist())
    result = design_ensembles(cells, spec, seed=0, sweeps=6, time_budget_s=30.0)
    compact = result.ensembles[2]
    assert len(set(compact.cells) & site_a) >= 8 and not set(compact.cells) & site_b
    assert result.all_rules_met
