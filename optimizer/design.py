"""``design_ensembles``: cell table + spec → ensembles that meet the spec's rules, best cost found."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Optional, Union

import numpy as np

from . import clock
from .cells import CellTable
from .errors import OptimizerError
from .evaluate import distinct_cost, evaluate
from .feasibility import check_counts, pilot
from .problem import HardLimits, build_problem
from .search import search
from .spec import OptimizerSpec

#: Joint annealing sweeps (every slot of every ensemble visited once) shared by all restarts, when the spec does
#: not say: with the start's lone designs (~0.7 s) and the reserve below, about what a 2-s budget holds for 20
#: ensembles of 10 from 1,000 cells on one lightly loaded core (benchmarks/optimizer.py); on a slower or busier
#: machine the schedule is compressed to fit the budget.
DEFAULT_TOTAL_SWEEPS = 20

#: Fraction of the budget kept back from annealing for the polish, then claims (compact ensembles taking back
#: cells that diffuse ones hold, :func:`~optimizer.search.claim`) and relocation rounds with what is left. 0.12
#: left time for about one relocated ensemble; 0.2 (~3 of ~31 annealing sweeps at 2 s) lets the claims for the
#: two costliest compact cotuned ensembles run, which at a fixed 30 sweeps lower the cost by 0.007 ± 0.002 (64
#: seeds, benchmark problem) but at the 2-s budget only about break even with the sweeps given up (−0.003 ± 0.003,
#: 64 seeds; docs/optimizer.md, Round 5). With a long budget (the runner's ≥ 120 s) the sweeps finish early and
#: claims and relocation run to the end.
RESERVE_FRACTION = 0.2


@dataclass
class EnsembleRecord:
    """One designed ensemble: its cells (ids from the table) and every figure the rules are judged on."""

    index: int
    group: int
    spatial: str
    tuning: str
    target_orientation_deg: Optional[float]
    cells: list
    spread_um: float
    min_pair_distance_um: float
    ensemble_osi: float
    mean_osi: float
    orientation_deg: float
    po_deg: float
    total_power_mw: float
    responsive_fraction: float
    cost: float
    criteria: dict
    rules: dict
    hard: dict

    @property
    def rules_met(self) -> bool:
        return all(self.rules.values())

    @property
    def hard_met(self) -> bool:
        return all(self.hard.values())

    def to_dict(self) -> dict:
        out = asdict(self)
        out["rules_met"] = self.rules_met
        return out


@dataclass
class OptimizationResult:
    ensembles: list[EnsembleRecord]
    cost: float
    distinct_cost: float
    seed: int
    seconds: float
    search: dict = field(default_factory=dict)

    @property
    def all_rules_met(self) -> bool:
        return all(e.rules_met for e in self.ensembles)

    @property
    def all_hard_met(self) -> bool:
        return all(e.hard_met for e in self.ensembles)

    def to_dict(self) -> dict:
        return {"ensembles": [e.to_dict() for e in self.ensembles], "cost": self.cost,
                "distinct_cost": self.distinct_cost, "all_rules_met": self.all_rules_met, "seed": self.seed,
                "seconds": self.seconds, "search": self.search}

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=_plain, allow_nan=False)

    def table(self) -> str:
        from .report import format_table

        return format_table(self)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def design_ensembles(cells: Union[CellTable, "object"], spec: OptimizerSpec, *,
                     reachable_half_field_um: Optional[float] = None, min_targets: int = 3,
                     seed: Optional[int] = None, time_budget_s: Optional[float] = None,
                     max_power_per_target_mw: Optional[float] = None, max_total_power_mw: Optional[float] = None,
                     sweeps: Optional[int] = None, restarts: Optional[int] = None,
                     check: bool = True) -> OptimizationResult:
    """Design the spec's ensembles from the eligible cells (seed 002, Methods, "Discrete optimizer").

    Parameters
    ----------
    cells : CellTable or pandas.DataFrame with the columns of :mod:`optimizer.cells`.
    spec : the ensembles to design, their rules and the criterion weights.
    reachable_half_field_um : cells with |x| or |y| beyond this (µm from the optical axis) are not eligible.
    min_targets : the rig's fewest targets per hologram (seed 002: 3).
    seed, time_budget_s, restarts : override the spec's. On a machine too slow to finish the sweeps within the
        budget (s), the annealing schedule is compressed to fit it (``result.search["timed_out"]``); otherwise
        the same seed gives the same design.
    max_power_per_target_mw, max_total_power_mw : laser limits; cells needing more are not eligible and no
        ensemble's summed stimmable power exceeds the total.
    sweeps : annealing sweeps per restart (default: :data:`DEFAULT_TOTAL_SWEEPS` shared by the restarts).
    check : run the feasibility checks first, raising :class:`InfeasibleSpec` for a spec that cannot be met.

    Raises :class:`OptimizerError` for bad input, :class:`InfeasibleSpec` (a subclass) for impossible rules.
    """
    start = clock.now()
    if not isinstance(cells, CellTable):
        cells = CellTable.from_frame(cells)
    if not isinstance(spec, OptimizerSpec):
        raise OptimizerError(f"spec must be an OptimizerSpec, got {type(spec).__name__}")
    seed = spec.seed if seed is None else int(seed)
    budget = spec.time_budget_s if time_budget_s is None else float(time_budget_s)
    if budget <= 0 or seed < 0:
        raise OptimizerError("time_budget_s must be positive and seed ≥ 0")
    limits = HardLimits(min_distance_um=spec.min_distance_um, reachable_half_field_um=reachable_half_field_um,
                        min_targets=min_targets, max_power_per_target_mw=max_power_per_target_mw,
                        max_total_power_mw=max_total_power_mw)
    problem = build_problem(cells, spec, limits)
    deadline = start + 0.94 * budget       # the rest: scoring the result, building the records, overruns
    verify = None
    if check:
        check_counts(problem)
        # Runs when a first start misses a rule; without a verdict when the budget runs out first.
        verify = lambda e: pilot(problem, seed, only=[e], deadline=deadline)  # noqa: E731
    restarts = restarts or spec.restarts
    sweeps = sweeps or spec.sweeps or max(4, -(-DEFAULT_TOTAL_SWEEPS // restarts))
    outcome = search(problem, seed=seed, restarts=restarts, sweeps=sweeps, deadline=deadline,
                     reserve_s=RESERVE_FRACTION * budget, verify=verify)
    total, figures = evaluate(problem, outcome.members)
    ids = problem.cells.ids
    records = []
    for fig in figures:
        fig = dict(fig)
        fig["cells"] = [_plain(v) if isinstance(v, np.generic) else v for v in ids[fig["cells"]].tolist()]
        fig.pop("index")
        records.append(EnsembleRecord(index=len(records), **fig))
    search_info = {
        "restarts": len(outcome.restarts), "sweeps_per_restart": [s.sweeps for s in outcome.restarts],
        "polish_sweeps": [s.polish_sweeps for s in outcome.restarts],
        "timed_out": outcome.timed_out, "eligible_cells": problem.n_cells, "ineligible": problem.ineligible,
        "budget_s": budget,
    }
    return OptimizationResult(ensembles=records, cost=float(total),
                              distinct_cost=distinct_cost(problem, outcome.members), seed=seed,
                              seconds=clock.now() - start, search=search_info)
