"""Benchmark of the discrete ensemble optimizer (issue targets; prints JSON).

    python benchmarks/optimizer.py            # full: 20 long reference runs (several minutes)
    python benchmarks/optimizer.py --quick    # fewer runs, for a smoke check
    python benchmarks/optimizer.py --cpu-clock  # budgets on CPU time: load on a shared machine leaves the
                                                # sweeps per run unchanged (wall times then exceed the budget)

Problem: 20 ensembles × 10 cells (configs/optimizer/oldenburg2024.yaml: compact/diffuse × cotuned/untuned) from
1,000 synthetic cells (optimizer.synthetic_cells, seed 0), on ONE core (process pinned, BLAS single-threaded).

Figures:
* ours — design_ensembles with the spec's 2-s budget and one restart (one long chain beats several short ones
  at equal time), several seeds: wall time, cost, rules met; also with the preset's restarts;
* reference — best cost of many long runs (``--long-sweeps`` sweeps, one restart, no time limit): the same
  search as ours, so every improvement to it (ejection chains, joint slot reassignment, relocation rounds to
  convergence) makes the reference harder too;
* random — random designs meeting every hard rule;
* baseline — the seed authors' method (seed 002, Methods, "Discrete optimizer"): greedy stochastic hill
  climbing, one random swap in one random ensemble per iteration, kept only if the cost drops; run for 10⁴
  iterations as published, and for as long as ours took (equal wall time). Same cost function, same
  incremental single-swap scoring, same random feasible start;
* incremental scoring — time to score all candidate swaps of one slot vs recomputing an ensemble per candidate.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer import cells_from_frame, design_ensembles, synthetic_cells  # noqa: E402
from optimizer.construct import random_feasible  # noqa: E402
from optimizer.evaluate import ensemble_figures, evaluate  # noqa: E402
from optimizer.problem import HardLimits, build_problem  # noqa: E402
from optimizer.state import SearchState  # noqa: E402
from rig.config import load_optimizer_spec  # noqa: E402


def pin_one_core() -> str:
    try:
        cpu = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def all_rules(problem, members) -> tuple[bool, bool]:
    figs = evaluate(problem, members)[1]
    return all(all(f["rules"].values()) for f in figs), all(all(f["hard"].values()) for f in figs)


def hill_climb(problem, seed: int, iterations: int | None = None, seconds: float | None = None):
    """Seed 002's optimizer as published: random swap in a random ensemble, kept only if the cost drops."""
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    state = SearchState(problem, random_feasible(problem, rng))
    n_iter = 0
    while True:
        if iterations is not None and n_iter >= iterations:
            break
        if seconds is not None and n_iter % 64 == 0 and time.perf_counter() - start >= seconds:
            break
        e = int(rng.integers(problem.n_ensembles))
        slot = int(rng.integers(problem.plans[e].n_cells))
        b = int(rng.integers(problem.n_cells))
        delta = state.swap_delta(e, slot, b)
        if delta < 0:
            state.apply(e, slot, b)
        n_iter += 1
    elapsed = time.perf_counter() - start
    rules, hard = all_rules(problem, state.members)
    return {"cost": evaluate(problem, state.members)[0], "seconds": elapsed, "iterations": n_iter,
            "all_rules_met": rules, "hard_met": hard}


def scoring_speed(problem) -> dict:
    rng = np.random.default_rng(0)
    state = SearchState(problem, random_feasible(problem, rng))
    t0 = time.perf_counter()
    for i in range(200):
        state.replace_deltas(i % problem.n_ensembles, i % 10)
    vectorised = (time.perf_counter() - t0) / 200
    t0 = time.perf_counter()
    for i in range(50):
        ensemble_figures(problem, 0, state.members[0])
    full = (time.perf_counter() - t0) / 50
    return {"score_all_candidates_of_a_slot_us": vectorised * 1e6, "candidates": problem.n_cells,
            "per_candidate_us": vectorised / problem.n_cells * 1e6,
            "full_ensemble_recompute_us": full * 1e6, "speedup_per_candidate": full / (vectorised / problem.n_cells)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (smoke check)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds of ours and of the baseline")
    parser.add_argument("--long-runs", type=int, default=None, help="reference runs (default 20, quick 3)")
    parser.add_argument("--long-sweeps", type=int, default=None, help="sweeps per reference run (default 150, ~8× the default)")
    parser.add_argument("--cpu-clock", action="store_true",
                        help="the optimizer's deadlines read CPU time (time.process_time), not wall time")
    args = parser.parse_args()
    if args.cpu_clock:
        import optimizer.clock

        optimizer.clock.now = time.process_time
    seeds = args.seeds or (3 if args.quick else 8)
    long_runs = args.long_runs or (3 if args.quick else 20)
    long_sweeps = args.long_sweeps or (60 if args.quick else 150)
    core = pin_one_core()
    load_start = os.getloadavg()[0]

    spec = load_optimizer_spec(ROOT / "configs/optimizer/oldenburg2024.yaml")
    cells = cells_from_frame(synthetic_cells(1000, seed=0))
    problem = build_problem(cells, spec, HardLimits(min_distance_um=spec.min_distance_um))
    design_ensembles(cells, spec, seed=0, sweeps=2, restarts=1)          # warm-up (imports, caches)

    def run_ours(restarts):
        runs = []
        for s in range(seeds):
            t0 = time.perf_counter()
            r = design_ensembles(cells, spec, seed=s, restarts=restarts)
            runs.append({"seed": s, "seconds": time.perf_counter() - t0, "cost": r.cost,
                         "all_rules_met": r.all_rules_met, "hard_met": r.all_hard_met,
                         "timed_out": r.search["timed_out"], "sweeps": r.search["sweeps_per_restart"]})
        return runs

    ours = run_ours(1)
    ours_preset = run_ours(spec.restarts)
    ours_cost = float(np.mean([o["cost"] for o in ours]))
    ours_time = float(np.median([o["seconds"] for o in ours]))

    reference = []
    for i in range(long_runs):
        r = design_ensembles(cells, spec, seed=1000 + i, sweeps=long_sweeps, restarts=1, time_budget_s=3600,
                             check=False)
        reference.append(r.cost)
    best = float(min(reference))

    randoms = [evaluate(problem, random_feasible(problem, np.random.default_rng(500 + i)))[0] for i in range(20)]
    published = [hill_climb(problem, seed=s, iterations=10_000) for s in range(seeds)]
    equal_time = [hill_climb(problem, seed=s, seconds=ours_time) for s in range(seeds)]

    def summary(runs):
        return {"mean_cost": float(np.mean([r["cost"] for r in runs])),
                "all_rules_met_fraction": float(np.mean([r["all_rules_met"] for r in runs])),
                "hard_met_fraction": float(np.mean([r["hard_met"] for r in runs])),
                "median_seconds": float(np.median([r["seconds"] for r in runs])),
                "mean_iterations": float(np.mean([r["iterations"] for r in runs]))}

    out = {
        "setup": {"cells": problem.n_cells, "ensembles": problem.n_ensembles, "cells_per_ensemble": 10,
                  "core": core, "seeds": seeds, "cpu_clock": args.cpu_clock, "reference_runs": long_runs,
                  "reference_sweeps": long_sweeps,
                  "load_average_1min": {"start": load_start, "end": os.getloadavg()[0], "cpus": os.cpu_count()}},
        "ours_preset_restarts": {"restarts": spec.restarts,
                                 "mean_cost": float(np.mean([o["cost"] for o in ours_preset])),
                                 "max_seconds": float(max(o["seconds"] for o in ours_preset)),
                                 "all_rules_met_fraction": float(np.mean([o["all_rules_met"] for o in ours_preset]))},
        "ours": {"restarts": 1, "runs": ours, "mean_cost": ours_cost, "median_seconds": ours_time,
                 "max_seconds": float(max(o["seconds"] for o in ours)),
                 "all_rules_met_fraction": float(np.mean([o["all_rules_met"] for o in ours])),
                 "hard_met_fraction": float(np.mean([o["hard_met"] for o in ours]))},
        "reference": {"best_cost": best, "costs": reference},
        "random_feasible": {"mean_cost": float(np.mean(randoms))},
        "baseline_published_1e4": summary(published),
        "baseline_equal_wall_time": summary(equal_time),
        "incremental_scoring": scoring_speed(problem),
    }
    out["ratios"] = {
        "ours_over_reference": ours_cost / best,
        "ours_worst_over_reference": max(o["cost"] for o in ours) / best,
        "ours_over_mean_long_run": ours_cost / float(np.mean(reference)),
        "random_over_ours": float(np.mean(randoms)) / ours_cost,
        "baseline_1e4_over_ours": out["baseline_published_1e4"]["mean_cost"] / ours_cost,
        "baseline_equal_time_over_ours": out["baseline_equal_wall_time"]["mean_cost"] / ours_cost,
    }
    out["targets"] = {
        "within_2s": out["ours"]["max_seconds"] <= 2.0,
        "all_hard_rules": out["ours"]["hard_met_fraction"] == 1.0,
        "within_2pct_of_reference": out["ratios"]["ours_over_reference"] <= 1.02,
        "beats_baseline_at_equal_time": out["ratios"]["baseline_equal_time_over_ours"] > 1.0,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
