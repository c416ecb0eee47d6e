"""The whole design_ensembles call keeps to its time budget, checked on a fake clock that advances with the work
done (every scoring of a slot's candidates costs one tick), so the test counts work, not wall time."""
import numpy as np
import pytest

import optimizer.clock
from optimizer import EnsembleGroup, InfeasibleSpec, OptimizerSpec, cells_from_frame, design_ensembles, synthetic_cells
from optimizer.batch import BatchScorer
from optimizer.feasibility import pilot
from optimizer.problem import HardLimits, build_problem
from optimizer.state import SearchState
from rig.config import load_optimizer_spec

TICK_S = 1e-3          # fake seconds per scoring call: a loaded machine (~5× slower than an idle core)


@pytest.fixture
def fake_clock(monkeypatch):
    """Time advances by TICK_S each time candidates are scored (one slot, one swap, or a batched round of one
    slot per ensemble); nothing else moves it."""
    clock = {"t": 0.0, "calls": 0}

    def charged(score):
        def scored(self, *args):
            clock["t"] += TICK_S
            clock["calls"] += 1
            return score(self, *args)
        return scored

    monkeypatch.setattr(optimizer.clock, "now", lambda: clock["t"])
    monkeypatch.setattr(SearchState, "_ensemble_deltas", charged(SearchState._ensemble_deltas))
    # a batched round scores one slot of up to 20 ensembles: charged as one call (a generous overrun bound)
    monkeypatch.setattr(BatchScorer, "score", charged(BatchScorer.score))
    return clock


@pytest.fixture(scope="module")
def cells():
    return cells_from_frame(synthetic_cells(1000, seed=0))


@pytest.mark.parametrize("budget_s", [0.001, 0.05, 0.3])
def test_preset_design_keeps_to_a_small_budget(fake_clock, cells, repo_root, budget_s):
    spec = load_optimizer_spec(repo_root / "configs/optimizer/oldenburg2024.yaml")   # 20 ensembles × 10 cells
    result = design_ensembles(cells, spec, seed=0, time_budget_s=budget_s)
    # Past the deadline, at most one unit of each stage finishes: one ensemble's polish (10 slots, each scored
    # for replacements and exchanges), one slot position of the joint reassignment (20 ensembles), a few more.
    overrun_calls = (fake_clock["t"] - budget_s) / TICK_S
    assert overrun_calls <= 60, f"{overrun_calls:.0f} scoring calls past the budget"
    assert result.search["timed_out"]
    assert result.all_hard_met and len(result.ensembles) == 20
    assert all(len(set(e.cells)) == 10 for e in result.ensembles)


def test_the_runners_budget_is_not_cut(fake_clock, cells):
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=2, spatial="compact", tuning="cotuned"),
                                    EnsembleGroup(count=1, spatial="diffuse", tuning="untuned")])
    result = design_ensembles(cells, spec, seed=0, sweeps=4, time_budget_s=1e6)
    assert not result.search["timed_out"] and result.all_rules_met


def test_pilot_refuses_only_with_time_to_be_sure(fake_clock):
    scarce = cells_from_frame(synthetic_cells(400, seed=4, tuned_fraction=0.03, responsive_fraction=1.0,
                                              noise=0.02))
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=3, spatial="compact", tuning="cotuned",
                                                  orientation_deg=[90.0])])
    problem = build_problem(scarce, spec, HardLimits())
    assert pilot(problem, 0, only=[0], deadline=0.01) is None      # out of time: no verdict, no refusal
    assert fake_clock["t"] <= 0.01 + 40 * TICK_S
    with pytest.raises(InfeasibleSpec, match="only"):
        pilot(problem, 0, only=[0], deadline=np.inf)
