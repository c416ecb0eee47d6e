"""Shared optimizer test fixture: a small mixed spec (compact cotuned, diffuse untuned, a spread range) on 300
synthetic cells."""
import pytest

from optimizer import EnsembleGroup, OptimizerSpec, cells_from_frame, synthetic_cells
from optimizer.problem import HardLimits, build_problem


@pytest.fixture(scope="module")
def problem():
    spec = OptimizerSpec(ensembles=[
        EnsembleGroup(count=2, spatial="compact", tuning="cotuned"),
        EnsembleGroup(count=1, spatial="diffuse", tuning="untuned", cells=8),
        EnsembleGroup(count=1, spatial=[100, 300], tuning="any")])
    cells = cells_from_frame(synthetic_cells(300, seed=5))
    return build_problem(cells, spec, HardLimits(max_total_power_mw=400.0))
