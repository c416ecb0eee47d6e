"""Ensembles designed from a cell table derived from the simulated microscope's ground truth (sims): every rule
is met for feasible compact/diffuse × cotuned/untuned specs, checked independently of the optimizer's code."""
import itertools

import numpy as np
import pandas as pd
import pytest

from optimizer import EnsembleGroup, OptimizerSpec, design_ensembles
from sims.config import SimConfig
from sims.population import DIRECTIONS_DEG, make_population

POWER_STEP_MW = 12.5    # seed 002 power test: 12.5–100 mW in 12.5-mW steps
FOV_UM = (800.0, 800.0)


@pytest.fixture(scope="module")
def sim_table():
    """The imaged cells of one simulated field of view as the optimizer's table: positions from the optical axis,
    ground-truth tuning curves, stimmable power rounded up to the power test's steps (empty where the cell has
    no opsin or needs more than 100 mW, as after a real power test)."""
    pop = make_population(SimConfig(), [-30.0, 0.0, 30.0], FOV_UM, seed=3)
    power = np.ceil(pop.stimmable_power_mw / POWER_STEP_MW) * POWER_STEP_MW
    power = np.where(pop.opsin & (power <= 100.0), power, np.nan)
    frame = pd.DataFrame({"id": np.arange(pop.n), "x_um": pop.xyz_um[:, 0] - FOV_UM[1] / 2,
                          "y_um": pop.xyz_um[:, 1] - FOV_UM[0] / 2, "z_um": pop.xyz_um[:, 2],
                          "responsive": pop.responsive, "power_mw": power, "uses": 0})
    for k, d in enumerate(DIRECTIONS_DEG):
        frame[f"resp_{int(d)}"] = pop.tuning_curve()[:, k]
    return frame, pop


def _seed_osi(curves):
    """Seed-002 OSI of direction curves (rows), written out independently with loops: rectify, PO = the largest
    value (first on ties), OO = the mean of the two directions ± 90° from it."""
    out = []
    for curve in np.atleast_2d(curves):
        r = np.clip(curve, 0, None)
        k = int(np.argmax(r))
        po, oo = r[k], (r[(k + 2) % 8] + r[(k - 2) % 8]) / 2
        out.append(0.0 if po + oo == 0 else (po - oo) / (po + oo))
    return np.array(out)


@pytest.mark.parametrize("spatial, tuning", list(itertools.product(["compact", "diffuse"], ["cotuned", "untuned"])))
def test_sim_population_rules_met(sim_table, spatial, tuning):
    frame, pop = sim_table
    spec = OptimizerSpec(ensembles=[EnsembleGroup(count=3, spatial=spatial, tuning=tuning)])
    result = design_ensembles(frame, spec, seed=2, sweeps=10, restarts=1, time_budget_s=30.0)
    assert result.all_rules_met and result.all_hard_met
    used = []
    for rec in result.ensembles:
        rows = np.asarray(rec.cells)
        assert len(set(rows)) == 10 and np.isfinite(frame.power_mw.to_numpy()[rows]).all()
        xyz = pop.xyz_um[rows]
        d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)[np.triu_indices(10, 1)]
        assert d.min() >= 30.0
        assert (d.mean() < 200.0) if spatial == "compact" else (d.mean() > 200.0)
        curves = pop.tuning_curve()[rows]
        ens_osi, mean_osi = float(_seed_osi(curves.mean(axis=0))[0]), float(_seed_osi(curves).mean())
        if tuning == "cotuned":
            assert ens_osi > 0.7 and mean_osi > 0.5
            # the orientation rule: the vector-sum orientation of the rectified mean curve lies near the target
            rect = np.clip(curves.mean(axis=0), 0, None)
            angle = np.rad2deg(np.angle(np.sum(rect * np.exp(2j * np.deg2rad(DIRECTIONS_DEG))))) / 2
            assert abs((angle - rec.target_orientation_deg + 90.0) % 180.0 - 90.0) <= 22.5
            # ground truth: members are closer to the target in preferred orientation than chance (45° mean)
            err = np.abs((pop.po_deg[rows] - rec.target_orientation_deg + 90.0) % 180.0 - 90.0)
            assert err.mean() < 35.0
        else:
            assert ens_osi < 0.3 and mean_osi < 0.5
        used.extend(rows.tolist())
    assert len(set(used)) == len(used)          # distinct ensembles: no cell shared (criterion 1)
