"""``holostim hologram preview``: compute a phase mask for given targets, write a PNG, print its figures."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import holography
from holography import HologramError

DEFAULT_RIG = "configs/rig/sim.yaml"


def register(subparsers) -> None:
    group = subparsers.add_parser("hologram", help="compute and preview holographic phase masks")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(dest="hologram_command", metavar="SUBCOMMAND")

    preview = sub.add_parser(
        "preview", help="compute a mask for targets, write a PNG of mask + predicted spots, print the figures",
        description="Targets are (x, y, z) µm in SLM sample coordinates, e.g. --targets '0,0,0;40,-25,30;-60,10,-30'.")
    source = preview.add_mutually_exclusive_group(required=True)
    source.add_argument("--targets", help="'x,y,z;x,y,z;…' in µm")
    source.add_argument("--targets-csv", type=Path,
                        help="CSV with columns x_um,y_um,z_um and optionally a 4th: weight (or mW with --powers)")
    preview.add_argument("--rig", type=Path, default=Path(DEFAULT_RIG), help=f"rig profile (default {DEFAULT_RIG})")
    preview.add_argument("--weights", help="relative intensities 'w1,w2,…' (default equal)")
    preview.add_argument("--powers-mw", help="requested power per target 'p1,p2,…' mW: weights corrected for the "
                                             "diffraction efficiency, and the laser power needed is checked "
                                             "against the rig's maxima")
    preview.add_argument("--method", choices=holography.METHODS, default="gsw")
    preview.add_argument("--iterations", type=int, default=30)
    preview.add_argument("--seed", type=int, default=0)
    preview.add_argument("--backend", default="numpy", help="numpy (default), cupy or torch")
    preview.add_argument("--out", type=Path, default=Path("hologram_preview.png"), help="PNG to write")
    preview.add_argument("--save-mask", type=Path, help="also save the phase mask (float32 rad) as .npy")
    preview.set_defaults(func=_preview)


def _numbers(text: str, what: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in text.replace(";", ",").split(",") if v.strip()])
    except ValueError:
        raise HologramError(f"{what} must be comma-separated numbers, got {text!r}") from None


def _parse_targets(text: str) -> np.ndarray:
    rows = [row for row in text.split(";") if row.strip()]
    pts = [_numbers(row, "each target") for row in rows]
    if any(len(p) != 3 for p in pts):
        raise HologramError(f"each target must be 'x,y,z' in µm, separated by ';', got {text!r}")
    return np.array(pts)


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.is_file():
        raise HologramError(f"targets file {path} does not exist")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            rows.append([float(v) for v in line.split(",")])
        except ValueError:
            if rows or number > 1:
                raise HologramError(f"{path}:{number}: expected numbers, got {line!r}") from None
            continue  # a header line
    if not rows or len({len(r) for r in rows}) != 1 or len(rows[0]) not in (3, 4):
        raise HologramError(f"{path}: need rows of x_um,y_um,z_um[,weight] with the same number of columns")
    table = np.array(rows)
    return table[:, :3], (table[:, 3] if table.shape[1] == 4 else None)


def _preview(args: argparse.Namespace) -> int:
    from rig.config import load_rig  # noqa: PLC0415 - the rig profile gives the SLM and the power limits

    rig = load_rig(args.rig)
    geometry = holography.SLMGeometry.from_rig_slm(rig.slm)
    if args.targets is not None:
        targets, column = _parse_targets(args.targets), None
    else:
        targets, column = _read_csv(args.targets_csv)
    powers = _numbers(args.powers_mw, "--powers-mw") if args.powers_mw else None
    weights = _numbers(args.weights, "--weights") if args.weights else None
    if powers is None and weights is None and column is not None:
        weights = column
    if powers is not None:
        weights = holography.power_weights(targets, powers, geometry) if len(powers) == len(targets) else powers
    t0 = time.perf_counter()
    hol = holography.compute_phase(targets, geometry, weights=weights, iterations=args.iterations,
                                   method=args.method, backend=args.backend, seed=args.seed)
    elapsed_ms = 1e3 * (time.perf_counter() - t0)
    plan = None
    if powers is not None:
        plan = holography.required_laser_power(hol, powers, geometry,
                                               holography.PowerLimits.from_rig_laser(rig.laser))
    _print_report(hol, geometry, elapsed_ms, plan)
    path = holography.preview.render_preview(hol, geometry, args.out)
    print(f"preview written to {path}")
    if args.save_mask:
        np.save(args.save_mask, hol.phase)
        print(f"mask written to {args.save_mask}")
    return 0


def _print_report(hol, geometry, elapsed_ms: float, plan) -> None:
    rows, cols = geometry.shape
    print(f"{hol.method.upper()} mask {rows}x{cols}, {hol.n_targets} targets, {hol.iterations} iterations, "
          f"{elapsed_ms:.0f} ms ({hol.backend})")
    print(f"efficiency {hol.efficiency:.3f}   uniformity {hol.uniformity:.4f}")
    header = f"{'#':>3} {'x_um':>8} {'y_um':>8} {'z_um':>7} {'intensity':>10} {'weight':>7}"
    print(header + (f" {'request_mW':>10} {'deliver_mW':>10}" if plan else ""))
    for k, ((x, y, z), inten, w) in enumerate(zip(hol.targets_um, hol.intensities, hol.weights)):
        line = f"{k:>3} {x:>8.1f} {y:>8.1f} {z:>7.1f} {inten:>10.4f} {w:>7.3f}"
        if plan:
            line += f" {plan.requested_mw[k]:>10.1f} {plan.delivered_mw[k]:>10.1f}"
        print(line)
    if plan:
        print(f"laser power needed: {plan.laser_power_mw:.1f} mW at the sample")
