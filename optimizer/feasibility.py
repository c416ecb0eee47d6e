"""Refuse specs that cannot be met, quickly and saying why, before the long search.

Two stages: counting checks that are exact (enough eligible cells; enough selective, or unselective, cells for
the mean-OSI rule), then a pilot — short anneals of an ensemble on its own, which ignore the other ensembles and
so can only do better than the full design. It runs only for an ensemble that the first restart's annealing
leaves missing a rule. If the pilot, retried longer, still misses it, no design can meet it; the refusal names the rule, the best value reached and the facts about the cells
behind it ("only 4 cells with OSI > 0.5 within 22.5° of 90°").
"""
from __future__ import annotations

import numpy as np

from . import clock
from .errors import InfeasibleSpec
from .evaluate import ensemble_figures
from .plan import EnsemblePlan
from .problem import Problem, single_ensemble
from .tuning import angular_distance_deg

PILOT_SWEEPS = (6, 20)   # first try, then a longer retry before refusing


def check_counts(problem: Problem) -> None:
    """Exact necessary conditions; raises :class:`InfeasibleSpec`."""
    cells = problem.cells
    n_max = max(p.n_cells for p in problem.plans)
    if problem.n_cells < n_max:
        left_out = "; ".join(f"{v} {k}" for k, v in problem.ineligible.items() if v)
        raise InfeasibleSpec(f"only {problem.n_cells} eligible cells, but an ensemble needs {n_max}"
                             + (f" (left out: {left_out})" if left_out else ""))
    osi_sorted = np.sort(cells.osi)
    for plan in problem.plans:
        n = plan.n_cells
        low, high = plan.mean_osi
        best_high, best_low = osi_sorted[-n:].mean(), osi_sorted[:n].mean()
        if low > 0 and best_high <= low:
            raise InfeasibleSpec(f"ensemble {plan.index + 1} ({plan.label}): the {n} most selective eligible cells "
                                 f"have mean OSI {best_high:.2f}, but the rule needs mean OSI > {low:g}")
        if high < 1 and best_low >= high:
            raise InfeasibleSpec(f"ensemble {plan.index + 1} ({plan.label}): the {n} least selective eligible cells "
                                 f"have mean OSI {best_low:.2f}, but the rule needs mean OSI < {high:g}")


def pilot(problem: Problem, seed: int, only=None, deadline: float = np.inf) -> None:
    """Design each distinct ensemble (or those in ``only``) alone; refuse the spec if one cannot meet its rules
    even then. Bounded by ``deadline`` (see :mod:`.clock`): an attempt whose schedule had to be compressed, or a
    retry there is no time for, proves nothing, so the pilot then returns without a verdict (the search goes
    on, and the result reports the rules missed) rather than refuse a spec that may be feasible."""
    from .search import anneal
    from .construct import random_feasible

    seen: set = set()
    for e, plan in enumerate(problem.plans):
        if only is not None and e not in only:
            continue
        kind = (plan.group, plan.target_deg)
        if kind in seen:
            continue
        seen.add(kind)
        sub = single_ensemble(problem, e)
        figures = None
        for attempt, sweeps in enumerate(PILOT_SWEEPS):
            if clock.now() > deadline:
                return
            rng = np.random.default_rng([seed, e, attempt])
            members, _, stats = anneal(sub, random_feasible(sub, rng), rng, sweeps, deadline, exchanges=False)
            figures = ensemble_figures(sub, 0, members[0])
            if all(figures["rules"].values()):
                break
            if stats.timed_out:
                return
        else:
            raise InfeasibleSpec(_explain(problem, plan, figures))


def _explain(problem: Problem, plan: EnsemblePlan, fig: dict) -> str:
    """Which rules the best lone design misses, by how much, and the facts about the cells behind it."""
    missed = []
    if not fig["rules"]["spatial"]:
        low, high = plan.spatial_um
        need = f"< {high:g} µm" if low <= 0 else (f"> {low:g} µm" if high == np.inf else f"in ({low:g}, {high:g}) µm")
        missed.append(f"spread {fig['spread_um']:.0f} µm (needs {need})")
    for rule, name in (("ensemble_osi", "ensemble OSI"), ("mean_osi", "mean OSI")):
        if not fig["rules"][rule]:
            missed.append(f"{name} {fig[rule]:.2f} (needs {_osi_need(getattr(plan, rule))})")
    if not fig["rules"].get("orientation", True):
        missed.append(f"orientation {fig['orientation_deg']:.0f}° (needs within {plan.tolerance_deg:g}° of "
                      f"{plan.target_deg:g}°)")
    return (f"ensemble {plan.index + 1} ({plan.label}) cannot meet its rules with these cells: the best design "
            f"found alone has {', '.join(missed)}; {_facts(problem, plan)}")


def _osi_need(interval) -> str:
    low, high = interval
    if low > 0 and high < 1:
        return f"in ({low:g}, {high:g})"
    return f"> {low:g}" if low > 0 else f"< {high:g}"


def _facts(problem: Problem, plan: EnsemblePlan) -> str:
    cells = problem.cells
    if plan.tuning == "cotuned":
        threshold = plan.mean_osi[0]
        match = cells.osi > threshold
        where = ""
        if plan.target_deg is not None:
            match &= angular_distance_deg(cells.orientation_deg, plan.target_deg) <= plan.tolerance_deg
            where = f" within {plan.tolerance_deg:g}° of {plan.target_deg:g}°"
        text = f"only {int(match.sum())} cells with OSI > {threshold:g}{where}"
    elif plan.tuning == "untuned":
        match = cells.osi < plan.mean_osi[1]
        text = f"{int(match.sum())} cells with OSI < {plan.mean_osi[1]:g}"
    else:
        match = np.ones(len(cells), dtype=bool)
        text = f"{len(cells)} eligible cells"
    high = plan.spatial_um[1]
    if np.isfinite(high) and match.any():
        d = problem.dist_um[np.ix_(match, match)]
        nearby = int((d < high).sum(axis=1).max())
        text += f", at most {nearby} of them within {high:g} µm of any one of them"
    return text + f" (the ensemble needs {plan.n_cells} cells)"
