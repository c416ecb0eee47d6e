"""design_ensembles on simulated cell tables: rules met, hard rules kept, refusals informative, seeds repeat."""
import itertools

import numpy as np
import pytest

from optimizer import (EnsembleGroup, InfeasibleSpec, OptimizerError, OptimizerSpec, cells_from_frame,
                       design_ensembles, synthetic_cells)
from optimizer.tuning import angular_distance_deg

FAST = dict(sweeps=12, restarts=1, time_budget_s=30.0)


@pytest.fixture(scope="module")
def cells():
    return cells_from_frame(synthetic_cells(1000, seed=11))


def _independent_figures(cells, ids):
    """Spread and tuning recomputed from the table with plain loops (not the optimizer's code)."""
    rows = [int(np.flatnonzero(cells.ids == i)[0]) for i in ids]
    xyz = cells.xyz_um[rows]
    d = [np.linalg.norm(xyz[i] - xyz[j]) for i, j in itertools.combinations(range(len(rows)), 2)]
    resp = cells.resp[rows]                        # columns: directions 0, 45, …, 315

    def seed_osi(curve):
        r = np.clip(curve, 0, None)
        k = int(np.argmax(r))
        po, oo = r[k], (r[(k + 2) % 8] + r[(k + 6) % 8]) / 2
        return 0.0 if po + oo == 0 else (po - oo) / (po + oo)

    return np.mean(d), min(d), seed_osi(resp.mean(axis=0)), np.mean([seed_osi(c) for c in resp])


@pytest.mark.parametrize("spatial, tuning", list(itertools.product(["compact", "diffuse"], ["cotuned", "untuned"])))
def test_every_rule_met_for_feasible_specs(cells, spatial, tuning):
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=3, spatial=spatial, tuning=tuning)])
    result = design_ensembles(cells, spec, seed=1, **FAST)
    assert len(result.ensembles) == 3 and result.all_rules_met and result.all_hard_met
    for rec in result.ensembles:
        spread, closest, ens_osi, mean_osi = _independent_figures(cells, rec.cells)
        assert len(set(rec.cells)) == 10 and closest >= 30.0
        assert (spread < 200) if spatial == "compact" else (spread > 200)
        if tuning == "cotuned":
            assert ens_osi > 0.7 and mean_osi > 0.5
            assert angular_distance_deg(rec.orientation_deg, rec.target_orientation_deg) <= 22.5
        else:
            assert ens_osi < 0.3 and mean_osi < 0.5
        assert rec.spread_um == pytest.approx(spread) and rec.ensemble_osi == pytest.approx(ens_osi)


def test_cotuned_targets_spread_evenly_and_are_reached(cells):
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=4, spatial="diffuse", tuning="cotuned")])
    result = design_ensembles(cells, spec, seed=2, **FAST)
    assert [r.target_orientation_deg for r in result.ensembles] == [0.0, 45.0, 90.0, 135.0]
    for rec in result.ensembles:
        assert rec.rules["orientation"]
    # distinct ensembles: no cell shared when there are plenty to choose from
    all_ids = [i for r in result.ensembles for i in r.cells]
    assert len(all_ids) == len(set(all_ids))


def test_same_seed_same_design_and_other_seed_differs(cells):
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=2, spatial="compact", tuning="cotuned"),
                                    EnsembleGroup(count=2, spatial="diffuse", tuning="untuned")])
    a = design_ensembles(cells, spec, seed=7, **FAST)
    b = design_ensembles(cells, spec, seed=7, **FAST)
    c = design_ensembles(cells, spec, seed=8, **FAST)
    assert [r.cells for r in a.ensembles] == [r.cells for r in b.ensembles]
    assert a.cost == b.cost
    assert [r.cells for r in a.ensembles] != [r.cells for r in c.ensembles]


def test_hard_limits_hold(cells):
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=3, spatial="diffuse", tuning="any")], min_distance_um=80)
    result = design_ensembles(cells, spec, seed=3, reachable_half_field_um=250.0, max_total_power_mw=200.0,
                              max_power_per_target_mw=50.0, **FAST)
    for rec in result.ensembles:
        rows = [int(np.flatnonzero(cells.ids == i)[0]) for i in rec.cells]
        xyz = cells.xyz_um[rows]
        assert np.all(np.abs(xyz[:, :2]) <= 250.0)
        d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)[np.triu_indices(10, 1)]
        assert d.min() >= 80.0
        assert cells.power_mw[rows].sum() <= 200.0 and cells.power_mw[rows].max() <= 50.0
    assert result.search["ineligible"]["outside the reachable field"] > 0


def test_refusal_names_the_rule_and_the_scarce_cells():
    # every cell responsive: an unresponsive cell's noise curve often has OSI > 0.5 (its two orthogonal
    # directions can fall ≤ 0), which would make the rule feasible
    scarce = cells_from_frame(synthetic_cells(400, seed=4, tuned_fraction=0.03, responsive_fraction=1.0,
                                              noise=0.02))
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=3, spatial="compact", tuning="cotuned",
                                                  orientation_deg=[90.0])])
    with pytest.raises(InfeasibleSpec, match=r"only \d+ cells with OSI > 0.5 within 22.5° of 90°") as err:
        design_ensembles(scarce, spec, seed=0, time_budget_s=30.0)
    assert "ensemble 1" in str(err.value) and "needs" in str(err.value)
    assert err.value.exit_code == 2


def test_exact_counting_refusals(cells):
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=3, tuning="any")])
    with pytest.raises(InfeasibleSpec,
                       match=r"only \d eligible cells, but an ensemble needs 10 \(left out: \d+ outside"):
        design_ensembles(cells, spec, reachable_half_field_um=35.0)
    flat = synthetic_cells(200, seed=1, responsive_fraction=1.0, tuned_fraction=0.0, noise=0.0)
    with pytest.raises(InfeasibleSpec, match="most selective eligible cells have mean OSI"):
        design_ensembles(flat, OptimizerSpec(ensembles=[EnsembleGroup(count=3, tuning="cotuned")]))


def test_packing_refusal_and_bad_arguments(cells):
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=3, cells=10)], min_distance_um=500.0)
    with pytest.raises(InfeasibleSpec, match="at least 500 µm apart"):
        design_ensembles(cells, spec)
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=3, cells=3)])
    with pytest.raises(OptimizerError, match="minimum of 5 targets"):
        design_ensembles(cells, spec, min_targets=5)
    with pytest.raises(OptimizerError, match="OptimizerSpec"):
        design_ensembles(cells, {"ensembles": []})


def test_result_json_has_the_documented_shape(cells):
    import json

    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=3, spatial="compact", tuning="untuned")])
    result = design_ensembles(cells, spec, seed=5, **FAST)
    data = json.loads(result.to_json())
    rec = data["ensembles"][0]
    assert set(rec) >= {"cells", "spatial", "tuning", "spread_um", "ensemble_osi", "mean_osi", "orientation_deg",
                        "total_power_mw", "criteria", "rules", "rules_met"}
    assert rec["spatial"] == "compact" and rec["tuning"] == "untuned" and len(rec["cells"]) == 10
    assert set(rec["criteria"]) == {"reuse", "power", "responsive", "spread", "spatial", "ensemble_osi", "mean_osi"}
    assert "spread" in result.table() and "ensOSI" in result.table()
    result.ensembles[0].orientation_deg = 179.7             # the table wraps orientations into [0, 180)
    row = result.table().splitlines()[2].split()
    assert row[7] == "0", row
