"""Score a design from scratch (no running sums): the reference the incremental search is checked against,
and the per-ensemble figures reported to the user."""
from __future__ import annotations

import numpy as np

from .cost import POWER_SCALE_MW, vector_angle_deg
from .problem import Problem
from .tuning import angular_distance_deg, osi_of_direction_curves, peak_orientation_deg


def _inside(value: float, interval, natural=(0.0, np.inf)) -> bool:
    """Open interval, except that a bound equal to the quantity's natural limit is included."""
    low, high = interval
    above = value > low or (low <= natural[0] and value >= low)
    below = value < high or (high >= natural[1] and value <= high)
    return bool(above and below)


def ensemble_figures(problem: Problem, e: int, members: np.ndarray) -> dict:
    """Spread, tuning, power, criterion values and rule checks of one ensemble."""
    plan, cost, cells = problem.plans[e], problem.costs, problem.cells
    m = np.asarray(members)
    n = len(m)
    iu = np.triu_indices(n, 1)
    d = problem.dist_um[np.ix_(m, m)][iu]
    curve_sum = cells.resp[m].sum(axis=0)
    mean_curve = cells.resp[m].mean(axis=0)           # ensemble OSI: OSI of the mean raw curve (seed 002)
    ens_osi = float(osi_of_direction_curves(mean_curve, cells.directions_deg)[0])
    orientation = float(vector_angle_deg(curve_sum, cost.phasors))
    spread = float(d.mean())
    mean_osi = float(cells.osi[m].mean())
    w = problem.spec.weights
    terms = cost.rule_terms(e, curve_sum, cells.osi[m].sum(), d.sum())
    terms.update(reuse=float(cells.uses[m].mean()), power=float(cells.power_mw[m].mean() / POWER_SCALE_MW),
                 responsive=float(np.mean(~cells.responsive[m])), spread=float(problem.crowd[np.ix_(m, m)][iu].mean()))
    weighted = (w.reuse * terms["reuse"] + w.power * terms["power"] + w.responsive * terms["responsive"]
                + w.spread * terms["spread"] + plan.weight * (w.spatial * terms["spatial"]
                                                            + w.ensemble_osi * terms["ensemble_osi"]
                                                            + w.mean_osi * terms["mean_osi"]))
    rules = {
        "spatial": _inside(spread, plan.spatial_um),
        "ensemble_osi": _inside(ens_osi, plan.ensemble_osi, (0.0, 1.0)),
        "mean_osi": _inside(mean_osi, plan.mean_osi, (0.0, 1.0)),
    }
    if plan.target_deg is not None:
        rules["orientation"] = bool(angular_distance_deg(orientation, plan.target_deg) <= plan.tolerance_deg)
    hard = {
        "min_distance": bool(d.min() >= problem.limits.min_distance_um) if n > 1 else True,
        "cell_count": bool(len(set(m.tolist())) == n == plan.n_cells and n >= problem.limits.min_targets),
        "reachable": _reachable(problem, m),
        "power": (problem.limits.max_total_power_mw is None
                  or float(cells.power_mw[m].sum()) <= problem.limits.max_total_power_mw),
    }
    return {
        "index": e, "group": plan.group, "spatial": plan.spatial_label, "tuning": plan.tuning,
        "target_orientation_deg": plan.target_deg, "cells": m.tolist(),
        "spread_um": spread, "min_pair_distance_um": float(d.min()) if n > 1 else float("inf"),
        "ensemble_osi": ens_osi, "mean_osi": mean_osi, "orientation_deg": orientation,
        "po_deg": float(peak_orientation_deg(mean_curve, cells.directions_deg)[0]),
        "total_power_mw": float(cells.power_mw[m].sum()),
        "responsive_fraction": float(np.mean(cells.responsive[m])), "criteria": terms, "cost": float(weighted),
        "rules": rules, "hard": hard,
    }


def _reachable(problem: Problem, m: np.ndarray) -> bool:
    half = problem.limits.reachable_half_field_um
    return half is None or bool(np.all(np.abs(problem.cells.xyz_um[m, :2]) <= half))


def distinct_cost(problem: Problem, members: list[np.ndarray]) -> float:
    counts = np.bincount(np.concatenate(members), minlength=problem.n_cells)
    return float(problem.spec.weights.distinct / problem.n_ref * np.sum(counts * (counts - 1) // 2))


def evaluate(problem: Problem, members: list[np.ndarray]) -> tuple[float, list[dict]]:
    """Total cost and per-ensemble figures of a design (member arrays are rows of ``problem.cells``)."""
    figures = [ensemble_figures(problem, e, m) for e, m in enumerate(members)]
    return sum(f["cost"] for f in figures) + distinct_cost(problem, members), figures
