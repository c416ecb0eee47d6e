"""Stage ``ensembles``: the discrete optimizer (seed 002, "Discrete optimizer") on the eligible cells.

Eligible: putative opsin-positive cells (red nuclei) with a stimmable power from the power test. The cell table
gives positions in SLM coordinates through the calibration (so the optimizer's reachable-field check is about the
optical axis), the power each cell will get (stimmable × the protocol's margin, seed 002: 1.1–1.2), visual
responsiveness and the mean response to each grating direction.
"""
from __future__ import annotations

import numpy as np

from optimizer import InfeasibleSpec, OptimizerError, design_ensembles

from ..errors import RunnerError

#: The laser's per-target limit applies to each target's share of the laser power (request ÷ the hologram's
#: efficiency, see :mod:`rig.runner.power`); cells whose request would exceed it at this typical efficiency of a
#: ten-spot mask (intensity fraction × diffraction efficiency) are not offered to the optimizer.
TYPICAL_SPOT_EFFICIENCY = 0.5
#: The optimizer's search is cut at its time budget, which would make the design depend on the machine's speed;
#: the runner gives it at least this much so the seeded search finishes and the session stays reproducible, s.
MIN_TIME_BUDGET_S = 120.0


def cell_table(ctx):
    """The optimizer's cell table (pandas DataFrame) of the eligible cells."""
    import pandas as pd

    margin = ctx.protocol.power_test.power_margin
    eligible = np.flatnonzero(np.isfinite(ctx.stimmable_mw))
    xyz = ctx.calibration.apply(ctx.cells.position_um[eligible]) if len(eligible) else np.zeros((0, 3))
    table = {"id": ctx.cells.ids[eligible], "x_um": xyz[:, 0], "y_um": xyz[:, 1], "z_um": xyz[:, 2],
             "responsive": ctx.tuning.responsive[eligible], "power_mw": ctx.stimmable_mw[eligible] * margin,
             "uses": np.zeros(len(eligible), int)}
    for j, d in enumerate(ctx.protocol.tuning.directions_deg):
        table[f"resp_{d:g}"] = np.nan_to_num(ctx.tuning.mean[eligible, j])
    return pd.DataFrame(table)


def run(ctx) -> None:
    spec = ctx.protocol.optimizer
    table = cell_table(ctx)
    laser = ctx.rig.laser
    try:
        result = design_ensembles(
            table, spec, reachable_half_field_um=ctx.rig.slm.reachable_half_field_um,
            min_targets=ctx.rig.slm.min_targets, seed=ctx.stage_seed("ensembles", spec.seed),
            time_budget_s=max(spec.time_budget_s, MIN_TIME_BUDGET_S),
            max_power_per_target_mw=laser.max_power_per_target_mw * TYPICAL_SPOT_EFFICIENCY,
            max_total_power_mw=laser.max_total_power_mw)
    except InfeasibleSpec as err:
        raise RunnerError(f"the optimizer cannot design these ensembles from {len(table)} eligible cells: {err}") \
            from None
    except OptimizerError as err:
        raise RunnerError(f"ensemble design failed: {err}") from None
    power = dict(zip(table["id"].tolist(), table["power_mw"].tolist()))
    ensembles = []
    for e in result.ensembles:
        cells = [int(c) for c in e.cells]
        ensembles.append(dict(cells=cells, power_mw=[float(np.float32(power[c])) for c in cells], spatial=e.spatial,
                              tuning=e.tuning,
                              target_orientation_deg=e.target_orientation_deg, orientation_deg=e.orientation_deg,
                              spread_um=e.spread_um, ensemble_osi=e.ensemble_osi, mean_osi=e.mean_osi))
    ctx.writer.write_ensembles(ensembles, t_s=ctx.acq.now())
    ctx.ensembles = ensembles
    met = sum(e.rules_met for e in result.ensembles)
    ctx.progress.message(f"[ensembles] {len(ensembles)} ensembles from {len(table)} eligible cells "
                         f"({met} meet every rule; search {result.seconds:.1f} s)")
