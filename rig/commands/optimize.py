"""``holostim optimize CELLS --spec SPEC --out OUT``: design ensembles from a table of eligible cells."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "optimize", help="design photostimulation ensembles from a table of eligible cells",
        description="Choose ensembles of cells that meet the spec's spatial and tuning rules (seed 002, "
                    "'Discrete optimizer'). CELLS is a CSV or Parquet table with columns id, x_um, y_um, z_um, "
                    "responsive, power_mw, uses, resp_0 … resp_315.")
    parser.add_argument("cells", help="cell table (.csv or .parquet)")
    parser.add_argument("--spec", required=True, help="optimizer spec YAML (e.g. configs/optimizer/oldenburg2024.yaml)")
    parser.add_argument("--out", required=True, help="where to write the ensembles (JSON)")
    parser.add_argument("--rig", help="rig profile YAML: takes the reachable field, minimum targets and laser "
                                      "power limits from it")
    parser.add_argument("--seed", type=int, help="random seed (default: the spec's)")
    parser.add_argument("--time-budget", type=float, dest="time_budget_s", help="search time limit, s (default: "
                                                                                 "the spec's)")
    parser.add_argument("--sweeps", type=int, help="annealing sweeps per restart (default: the optimizer's)")
    parser.add_argument("--restarts", type=int, help="independent restarts (default: the spec's)")
    parser.set_defaults(func=_optimize)


def _optimize(args: argparse.Namespace) -> int:
    from optimizer import OptimizerError, design_ensembles, read_cells
    from rig.config import load_optimizer_spec, load_rig

    spec = load_optimizer_spec(args.spec)
    limits = {}
    if args.rig:
        rig = load_rig(args.rig)
        limits = dict(reachable_half_field_um=rig.slm.reachable_half_field_um, min_targets=rig.slm.min_targets,
                      max_power_per_target_mw=rig.laser.max_power_per_target_mw,
                      max_total_power_mw=rig.laser.max_total_power_mw)
    for name in ("sweeps", "restarts"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise OptimizerError(f"--{name} must be at least 1, got {value}")
    cells = read_cells(args.cells)
    result = design_ensembles(cells, spec, seed=args.seed, time_budget_s=args.time_budget_s,
                              sweeps=args.sweeps, restarts=args.restarts, **limits)
    _write_atomic(Path(args.out), result.to_json())
    print(result.table())
    print(f"wrote {len(result.ensembles)} ensembles to {args.out} ({result.seconds:.2f} s"
          f"{', schedule compressed to fit the time budget' if result.search.get('timed_out') else ''})")
    missed = [r.index + 1 for r in result.ensembles if not r.rules_met]
    if missed:
        print(f"holostim: ensembles {missed} miss a rule (see the table); try a longer --time-budget or relax the "
              "spec", file=sys.stderr)
        return 1
    return 0


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a failure never leaves half a JSON file."""
    from optimizer import OptimizerError

    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OptimizerError(f"--out {path}: folder {directory} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
