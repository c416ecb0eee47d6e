"""Everything the search needs, precomputed once: eligible cells, pairwise matrices, per-ensemble scorers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .cells import CellTable
from .cost import CostTable
from .errors import OptimizerError
from .plan import EnsemblePlan, expand
from .spec import OptimizerSpec


@dataclass(frozen=True)
class HardLimits:
    """Hard constraints from the rig: they filter cells or forbid moves; no output ever breaks them."""

    min_distance_um: float = 30.0                       # seed 002 criterion 5
    reachable_half_field_um: Optional[float] = None     # |x|, |y| a hologram can reach (SLM λf/2p)
    min_targets: int = 3                                # seed 002: holograms of at least three targets
    max_power_per_target_mw: Optional[float] = None     # cells needing more are not eligible
    max_total_power_mw: Optional[float] = None          # summed stimmable power of an ensemble


@dataclass(frozen=True)
class Problem:
    cells: CellTable             # eligible cells only
    source_rows: np.ndarray      # their rows in the table given
    plans: list[EnsemblePlan]
    costs: CostTable
    spec: OptimizerSpec
    limits: HardLimits
    dist_um: np.ndarray          # (N, N) pairwise 3D distance
    crowd: np.ndarray            # (N, N) crowding kernel (criterion 6), 0 on the diagonal
    close: np.ndarray            # (N, N) int8: 1 where closer than min distance, and on the diagonal
    linear: np.ndarray           # (E, N) weighted per-cell terms 2–4 of each ensemble
    linear_order: np.ndarray     # (E, N) cells by increasing linear score, per ensemble
    linear_sorted: np.ndarray    # (E, N) those scores
    n_ref: float                 # mean ensemble size, normalises the distinct term
    ineligible: dict             # reason → number of cells left out

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def n_ensembles(self) -> int:
        return len(self.plans)


def crowd_radius_um(min_distance_um: float) -> float:
    """Pairs closer than this count as crowded (criterion 6): three times the hard minimum, ≥ 30 µm."""
    return max(3.0 * min_distance_um, 30.0)


def build_problem(cells: CellTable, spec: OptimizerSpec, limits: HardLimits) -> Problem:
    """Filter eligible cells and precompute the matrices. Raises :class:`OptimizerError` on bad limits."""
    plans = expand(spec)
    too_small = [p for p in plans if p.n_cells < limits.min_targets]
    if too_small:
        raise OptimizerError(f"ensembles of {too_small[0].n_cells} cells are below the rig's minimum of "
                             f"{limits.min_targets} targets per hologram; raise 'cells' in the spec")
    keep = np.ones(len(cells), dtype=bool)
    ineligible = {}
    if limits.reachable_half_field_um is not None:
        inside = np.all(np.abs(cells.xyz_um[:, :2]) <= limits.reachable_half_field_um, axis=1)
        ineligible["outside the reachable field"] = int(np.sum(~inside))
        keep &= inside
    if limits.max_power_per_target_mw is not None:
        ok = cells.power_mw <= limits.max_power_per_target_mw
        ineligible["stimmable power above the per-target limit"] = int(np.sum(~ok & keep))
        keep &= ok
    if cells.dropped_ids:
        ineligible["no stimmable power"] = len(cells.dropped_ids)
    rows = np.flatnonzero(keep)
    sub = cells.subset(rows)
    xyz = sub.xyz_um
    sq = np.sum(xyz ** 2, axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * xyz @ xyz.T, 0.0))
    np.fill_diagonal(dist, 0.0)
    radius = crowd_radius_um(limits.min_distance_um)
    crowd = np.clip(1.0 - dist / radius, 0.0, None) ** 2
    np.fill_diagonal(crowd, 0.0)
    close = (dist < limits.min_distance_um).astype(np.int8)
    np.fill_diagonal(close, 1)
    costs = CostTable(plans, spec.weights, sub.directions_deg)
    linear = costs.linear_scores(sub.uses.astype(float), sub.power_mw, (~sub.responsive).astype(float))
    order = np.argsort(linear, axis=1, kind="stable")
    return Problem(cells=sub, source_rows=rows, plans=plans, costs=costs, spec=spec, limits=limits,
                   dist_um=dist, crowd=crowd, close=close, linear=linear, linear_order=order,
                   linear_sorted=np.take_along_axis(linear, order, axis=1),
                   n_ref=float(np.mean([p.n_cells for p in plans])), ineligible=ineligible)


def single_ensemble(problem: Problem, e: int) -> Problem:
    """The sub-problem of designing ensemble ``e`` alone (same cells and matrices), for feasibility pilots."""
    from dataclasses import replace

    plan = replace(problem.plans[e], index=0)
    costs = CostTable([plan], problem.spec.weights, problem.cells.directions_deg)
    return replace(problem, plans=[plan], costs=costs, linear=problem.linear[e:e + 1],
                   linear_order=problem.linear_order[e:e + 1], linear_sorted=problem.linear_sorted[e:e + 1],
                   n_ref=float(plan.n_cells))
