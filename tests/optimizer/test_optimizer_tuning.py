"""PO / OSI from direction responses (seed 002, "Online analysis") and cell-table validation."""
import numpy as np
import pandas as pd
import pytest

from optimizer import CellTable, OptimizerError, cells_from_frame
from optimizer.cost import curve_osi
from optimizer.tuning import orientation_layout, orthogonal_index, osi

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


def test_orientation_folding_averages_opposite_directions():
    orientations, fold = orientation_layout(DIRS)
    assert orientations.tolist() == [0, 45, 90, 135]
    curve = np.arange(8.0) @ fold          # directions 0..315 → responses 0..7
    assert curve.tolist() == [2.0, 3.0, 4.0, 5.0]   # (0+4)/2, (1+5)/2, …
    assert orthogonal_index(orientations).tolist() == [2, 3, 0, 1]


def test_osi_analytic_cases():
    # only the 90° orientation (both directions) responds → OSI 1, PO 90°
    c = cells_from_frame(table([0, 0, 1, 0, 0, 0, 1, 0]))
    assert c.osi[0] == pytest.approx(1.0) and c.po_deg[0] == 90 and c.orientation_deg[0] == pytest.approx(90)
    # PO response 1, orthogonal 0.5 → (1 − 0.5)/(1 + 0.5) = 1/3
    c = cells_from_frame(table([1, 0.7, 0.5, 0.7, 1, 0.7, 0.5, 0.7]))
    assert c.osi[0] == pytest.approx(1 / 3) and c.po_deg[0] == 0
    # flat and all-zero curves are unselective
    c = cells_from_frame(table([[0.4] * 8, [0.0] * 8]))
    assert c.osi.tolist() == [0.0, 0.0]


def test_negative_responses_are_clipped_so_osi_stays_in_unit_interval():
    # OO negative would give OSI > 1 without clipping
    c = cells_from_frame(table([1, 0, -0.5, 0, 1, 0, -0.5, 0]))
    assert c.osi[0] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    c = cells_from_frame(table(rng.normal(0, 1, (200, 8))))
    assert np.all((c.osi >= 0) & (c.osi <= 1))


def test_direction_selective_cell_is_folded_not_doubled():
    # responds to 0° only (not 180°): orientation 0 gets the mean 0.5, orthogonal 0 → OSI 1, PO 0
    c = cells_from_frame(table([1, 0, 0, 0, 0, 0, 0, 0]))
    assert c.orient_resp[0].tolist() == [0.5, 0, 0, 0] and c.osi[0] == pytest.approx(1.0)


def test_vectorised_ensemble_osi_matches_reference():
    rng = np.random.default_rng(1)
    curves = rng.random((500, 4))
    ortho = np.array([2, 3, 0, 1])
    assert np.allclose(curve_osi(curves.T, ortho), osi(curves, ortho))
    assert np.allclose(curve_osi(3.0 * curves.T, ortho), osi(curves, ortho))   # scale-free: sums work


@pytest.mark.parametrize("drop, message", [("power_mw", "power_mw"), ("id", "id"),
                                           ("resp_45", r"no opposite direction \(45°\)")])
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


def test_direction_without_its_opposite_is_refused():
    frame = table([0, 0, 1, 0, 0, 0, 1, 0]).drop(columns=["resp_225"])
    with pytest.raises(OptimizerError, match="opposite"):
        cells_from_frame(frame)
