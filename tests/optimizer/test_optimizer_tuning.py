"""PO / OSI from direction responses (seed 002, "Online analysis") and cell-table validation."""
import numpy as np
import pandas as pd
import pytest

from optimizer import CellTable, OptimizerError, cells_from_frame
from optimizer.cost import summed_osi
from optimizer.tuning import osi_of_direction_curves

DIRS = np.arange(0, 360, 45)


def table(resp, **extra):
    resp = np.atleast_2d(np.asarray(resp, dtype=float))
    n = len(resp)
    frame = pd.DataFrame({"id": np.arange(n), "x_um": np.arange(n) * 50.0, "y_um": 0.0, "z_um": 0.0,
                          "responsive": True, "power_mw": 25.0, "uses": 0})
    for j, d in enumerate(DIRS):
        frame[f"resp_{d}"] = resp[:, j]
    for k, v in extra.items():
        frame[k] = v
    return frame


def test_osi_analytic_cases():
    # only the 90° axis responds (both directions) → OO = 0, OSI 1, PO 90°
    c = cells_from_frame(table([0, 0, 1, 0, 0, 0, 1, 0]))
    assert c.osi[0] == pytest.approx(1.0) and c.po_deg[0] == 90 and c.orientation_deg[0] == pytest.approx(90)
    # peak 1 at 0°, the directions ± 90° (90°, 270°) give 0.5 and 0.3 → OO 0.4, OSI 0.6/1.4
    c = cells_from_frame(table([1, 0.7, 0.5, 0.7, 0.2, 0.7, 0.3, 0.7]))
    assert c.osi[0] == pytest.approx(0.6 / 1.4) and c.po_deg[0] == 0
    # flat and all-zero curves are unselective; so is one ≤ 0 everywhere (the optimizer's convention)
    c = cells_from_frame(table([[0.4] * 8, [0.0] * 8, [-0.3] * 8]))
    assert c.osi.tolist() == [0.0, 0.0, 0.0]


def test_direction_curve_is_not_folded():
    # peak 1 at 0°, 0.2 at 180°, 0.3 at 90° and 270°: on the direction curve OSI = (1 − 0.3)/(1 + 0.3);
    # folding θ with θ + 180° first would give orientation 0° = 0.6 against 0.3 → 1/3
    c = cells_from_frame(table([1, 0, 0.3, 0, 0.2, 0, 0.3, 0]))
    assert c.osi[0] == pytest.approx(0.7 / 1.3)


def test_negative_responses_are_rectified_so_osi_stays_in_unit_interval():
    # OO negative would give OSI > 1 without rectification
    c = cells_from_frame(table([1, 0, -0.5, 0, 1, 0, -0.5, 0]))
    assert c.osi[0] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    c = cells_from_frame(table(rng.normal(0, 1, (200, 8))))
    assert np.all((c.osi >= 0) & (c.osi <= 1))


def _loop_osi(curve, directions):
    """Seed-002 OSI written out with a loop over one curve (directions in any column order)."""
    r = np.clip(curve, 0, None)
    k = int(np.argmax(r))
    col = {round(float(d) % 360, 6): j for j, d in enumerate(directions)}
    oo = (r[col[round((directions[k] + 90) % 360, 6)]] + r[col[round((directions[k] - 90) % 360, 6)]]) / 2
    return 0.0 if r[k] + oo == 0 else (r[k] - oo) / (r[k] + oo)


def test_public_osi_matches_a_loop_in_any_column_order_and_ties_go_first():
    rng = np.random.default_rng(3)
    curves = rng.normal(0.2, 1.0, (300, 8))
    expected = [_loop_osi(c, DIRS) for c in curves]
    assert np.allclose(osi_of_direction_curves(curves, DIRS), expected)
    order = rng.permutation(8)
    assert np.allclose(osi_of_direction_curves(curves[:, order], DIRS[order]), expected)
    # 16 directions: ± 90° is four columns away
    dirs16 = np.arange(0, 360, 22.5)
    c16 = rng.normal(0.2, 1.0, (50, 16))
    assert np.allclose(osi_of_direction_curves(c16, dirs16), [_loop_osi(c, dirs16) for c in c16])
    # tie between 0° and 45°: the first (0°) is the peak → OO from 90°/270° = 0 → OSI 1 (45° would give 1/3)
    tie = np.array([1, 1, 0, 0.5, 0, 0, 0, 0.5])
    assert osi_of_direction_curves(tie, DIRS)[0] == pytest.approx(1.0)
    assert osi_of_direction_curves(tie[::-1], DIRS[::-1])[0] == pytest.approx(1 / 3)


def test_summed_osi_matches_the_public_definition():
    rng = np.random.default_rng(1)
    curves = rng.normal(0.1, 1.0, (500, 8))
    expected = osi_of_direction_curves(curves, DIRS)
    assert np.allclose(summed_osi(curves.T)[0], expected, rtol=0, atol=1e-12)
    assert np.allclose(summed_osi(3.0 * curves.T)[0], expected, rtol=0, atol=1e-12)   # scale-free: sums work
    for row in curves[:20]:                                                            # the one-curve path
        assert summed_osi(row)[0] == pytest.approx(osi_of_direction_curves(row, DIRS)[0], abs=1e-12)
    # exact ties between non-opposite directions keep the first, as the public function does
    ties = np.array([[0, 1, 0, 0, 1, 0.7, 0, 0.4], [1, 0, 0.2, 1, 0, 0.6, 0.1, 0], [-1] * 8, [0] * 8], float)
    assert np.allclose(summed_osi(ties.T)[0], osi_of_direction_curves(ties, DIRS), atol=1e-12)


@pytest.mark.parametrize("drop, message", [("power_mw", "power_mw"), ("id", "id"),
                                           ("resp_45", r"no orthogonal direction \(45°\)")])
def test_missing_columns_are_named(drop, message):
    frame = table([0, 0, 1, 0, 0, 0, 1, 0]).drop(columns=[drop])
    with pytest.raises(OptimizerError, match=message):
        cells_from_frame(frame)


def test_bad_values_are_refused_with_the_cells_named():
    frame = table([[0] * 8, [0] * 8])
    frame.loc[1, "x_um"] = np.nan
    with pytest.raises(OptimizerError, match=r"x_um .* cells \[1\]"):
        cells_from_frame(frame)
    frame = table([[0] * 8, [0] * 8], id=[5, 5])
    with pytest.raises(OptimizerError, match="unique"):
        cells_from_frame(frame)
    frame = table([[0] * 8], responsive="maybe")
    with pytest.raises(OptimizerError, match="responsive"):
        cells_from_frame(frame)


def test_cells_without_stimmable_power_are_dropped():
    frame = table([[0] * 8, [0] * 8, [0] * 8])
    frame.loc[1, "power_mw"] = np.nan
    c = CellTable.from_frame(frame)
    assert c.ids.tolist() == [0, 2] and c.dropped_ids == (1,)


def test_direction_without_its_orthogonal_is_refused():
    frame = table([0, 0, 1, 0, 0, 0, 1, 0]).drop(columns=["resp_225"])
    with pytest.raises(OptimizerError, match=r"direction 135° has no orthogonal direction \(225°\)"):
        cells_from_frame(frame)


def test_tuning_term_matches_an_independent_formula_in_both_scoring_paths():
    """Term 8 of a cotuned ensemble: ensemble-OSI hinge per 0.1 plus orientation error beyond the tolerance per
    10° plus the pull, from the mean curve's OSI and vector-sum orientation — the scalar path (one ensemble),
    the per-candidate path (many ensembles at once) and this formula agree."""
    from optimizer import EnsembleGroup, OptimizerSpec
    from optimizer.cost import (OSI_MARGIN, ORIENTATION_MARGIN_DEG, ORIENTATION_PULL, ORIENTATION_SCALE_DEG,
                                OSI_SCALE, CostTable)
    from optimizer.plan import expand
    from optimizer.tuning import angular_distance_deg, vector_orientation_deg

    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=5, spatial="compact", tuning="cotuned")])
    plans = expand(spec)
    costs = CostTable(plans, spec.weights, DIRS.astype(float))
    rng = np.random.default_rng(7)
    sums = rng.normal(0.3, 1.0, (8, 40)) * 10            # summed raw curves of 10 members, directions first
    e = rng.integers(len(plans), size=40)
    mean = sums.T / 10
    osi = osi_of_direction_curves(mean, DIRS)
    err = angular_distance_deg(vector_orientation_deg(mean, DIRS), np.array([plans[k].target_deg for k in e]))
    tol = np.array([plans[k].tolerance_deg for k in e])
    expected = (np.maximum(0.7 + OSI_MARGIN - osi, 0) / OSI_SCALE
                + np.maximum(err - (tol - ORIENTATION_MARGIN_DEG), 0) / ORIENTATION_SCALE_DEG
                + ORIENTATION_PULL * err / tol)
    scalar = [costs.tuning_term(int(k), sums[:, m]) for m, k in enumerate(e)]
    assert np.allclose(scalar, expected, atol=1e-9)
    w = spec.weights.ensemble_osi
    zero = np.zeros(40)
    # rule_cost with no spatial/mean-OSI violation: only term 8, times its weight
    vector = costs.rule_cost(e, sums, zero + 0.8 * 10, zero + 100.0 * 45)
    assert np.allclose(vector, w * expected, atol=1e-9)
    one = [costs.rule_cost(int(k), sums[:, m], 0.8 * 10, 100.0 * 45) for m, k in enumerate(e)]
    assert np.allclose(one, w * expected, atol=1e-9)
