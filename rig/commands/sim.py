"""``holostim sim ensembles``: rehearse an ensemble experiment on the simulated microscope;
``holostim sim score``: score a dry run against the simulated ground truth (:mod:`rig.ground_truth`).

Stimulates N simulated ten-cell ensembles of one kind and writes one row per non-targeted cell per ensemble
(columns: ensemble, cell, min_distance_um, plane, po_deg, osi, delta_ori_deg, ensemble_spread_um, ensemble_osi,
excluded, response).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    group = subparsers.add_parser("sim", help="rehearse experiments on the simulated microscope")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")

    ens = sub.add_parser("ensembles", help="stimulate simulated ensembles and write every non-target cell's response")
    ens.add_argument("--seed", type=int, default=0, help="seed of the simulated FOV and of the draws (default 0)")
    ens.add_argument("--kind", required=True, choices=("random", "compact", "diffuse", "cotuned", "untuned"),
                     help="ensemble rule (seed 002: compact/diffuse spread, cotuned/untuned OSI rules)")
    ens.add_argument("--spatial", choices=("any", "compact", "diffuse"), default="any",
                     help="extra spatial rule for cotuned/untuned ensembles (default any)")
    ens.add_argument("--n", type=int, default=10, help="number of ensembles (default 10)")
    ens.add_argument("--out", required=True, help="CSV file to write")
    ens.add_argument("--rig", default=None, help="rig profile YAML whose 'sim' and 'imaging' sections to use "
                     "(default: built-in simulator defaults)")
    ens.add_argument("--trials", type=int, default=15, help="trials averaged per ensemble (default 15)")
    ens.add_argument("--expected", action="store_true",
                     help="write noise-free expected responses instead of simulated trial averages")
    ens.set_defaults(func=_ensembles)

    score = sub.add_parser("score", help="score a dry run's online analysis against the simulated ground truth",
                           description="Rebuild the simulated tissue of a dry-run session (its rig profile and "
                           "seed) and compare what the online analysis found with what was planted: visual "
                           "responsiveness, PO, OSI and stimmable power.")
    score.add_argument("session", help="dry-run session file (.h5)")
    score.add_argument("--json", action="store_true", help="print the figures as JSON")
    score.set_defaults(func=_score)


def _ensembles(args: argparse.Namespace) -> int:
    from sims.config import SimConfig
    from sims.errors import SimError
    from sims.network import sample_network
    from sims.population import make_population
    from sims.rehearsal import simulate_ensembles
    from sims.responder import Responder

    if args.n < 1 or args.trials < 1:
        raise SimError(f"--n and --trials must be at least 1, got {args.n} and {args.trials}")
    out = Path(args.out)
    if out.parent and not out.parent.exists():
        raise SimError(f"{out.parent}: no such folder for --out")
    config, planes, fov, rate = SimConfig(), (-30.0, 0.0, 30.0), (800.0, 800.0), 6.0
    if args.rig:
        from rig.config import load_rig
        rig = load_rig(args.rig)
        if rig.backend != "sim":
            raise SimError(f"{args.rig}: a rehearsal needs a rig profile with backend 'sim'")
        config = rig.sim or SimConfig()
        planes, fov, rate = tuple(rig.imaging.planes_z_um), tuple(rig.imaging.fov_um), rig.imaging.volume_rate_hz
    pop = make_population(config, planes, fov, args.seed)
    responder = Responder(sample_network(pop, config, args.seed), config.response_gain)
    table = simulate_ensembles(pop, config, responder, args.kind, args.n, args.seed, spatial=args.spatial,
                               trials=args.trials, noise=not args.expected, frame_rate_hz=rate)
    tmp = out.with_name(out.name + ".tmp")
    table.to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(out)                                   # never leave a half-written file
    kept = table[~table.excluded]
    print(f"{out}: {len(table)} rows, {args.n} {args.kind} ensembles, {pop.n} imaged cells; "
          f"mean response of non-excluded cells {kept.response.mean():+.4f} ΔF/F", file=sys.stderr)
    return 0


def _score(args: argparse.Namespace) -> int:
    import json

    from rig.ground_truth import format_score, score_session

    figures = score_session(args.session)
    print(json.dumps(figures, indent=1) if args.json else format_score(figures))
    return 0
