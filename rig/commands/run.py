"""``holostim dry-run``, ``holostim run`` and ``holostim resume``: run a seed-002 session (docs/controller.md)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_RIG = "configs/rig/sim.yaml"
DEFAULT_PROTOCOL = "configs/protocols/oldenburg2024.yaml"
SLM_MODES = ("process", "server", "direct", "remote")
ONLINE_MODES = ("process", "inline")


def register(subparsers) -> None:
    dry = subparsers.add_parser(
        "dry-run", help="run a whole session on the simulated microscope",
        description="Run every stage of the protocol on the simulated microscope (SLM server process, online "
                    "analysis process and session runner in one command, simulated time) and write the session "
                    "file.")
    dry.add_argument("--rig", default=DEFAULT_RIG, help=f"rig profile with backend: sim (default {DEFAULT_RIG})")
    dry.add_argument("--protocol", default=DEFAULT_PROTOCOL, help=f"protocol YAML (default {DEFAULT_PROTOCOL})")
    dry.add_argument("--seed", type=int, default=0, help="random seed of the simulated tissue and the session")
    _common(dry)
    dry.set_defaults(func=_dry_run)

    real = subparsers.add_parser(
        "run", help="run a session on a real rig",
        description="Run the protocol on the rig a profile describes (backend: hardware). The SLM server "
                    "(`holostim slm-server`) and ScanImage must be running.")
    real.add_argument("--rig", required=True, help="rig profile YAML with backend: hardware")
    real.add_argument("--protocol", required=True, help="protocol YAML")
    real.add_argument("--seed", type=int, default=0, help="seed of the randomized trial orders")
    _common(real)
    real.set_defaults(func=_run)

    resume = subparsers.add_parser(
        "resume", help="continue a session that was interrupted",
        description="Continue a session from its file: configs and seed come from the file, finished stages are "
                    "kept, an unfinished one is redone, and the stimulation block continues in the same order "
                    "after its last committed trial.")
    resume.add_argument("session", help="session file (.h5)")
    resume.add_argument("--slm", choices=SLM_MODES, default=None, help="how to reach the SLM (default: as before)")
    _online_option(resume)
    resume.add_argument("--no-progress", action="store_true", help="no live status line")
    resume.set_defaults(func=_resume)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="session file to write (.h5)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--slm", choices=SLM_MODES, default=None,
                        help="how to reach the SLM: 'process' (an SLM server as a child process, over ZMQ "
                             "loopback; dry-run default), 'server' (an SLM server in a thread of this process), "
                             "'direct' (no server), 'remote' (the profile's zmq.slm_server; run default)")
    _online_option(parser)
    parser.add_argument("--no-progress", action="store_true", help="no live status line")


def _online_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--online", choices=ONLINE_MODES, default="process",
                        help="where the online analysis runs: 'process' (default: the online server in a child "
                             "process, fed over ZMQ loopback) or 'inline' (in this process; for tests and "
                             "debugging). The session file is the same either way.")


def _preset(path: str) -> Path:
    """A config path as given, or (for the presets under configs/) the copy beside the installed package."""
    given = Path(path)
    if given.exists() or given.is_absolute():
        return given
    beside = Path(__file__).resolve().parents[2] / given
    return beside if beside.exists() else given


def _load(args):
    from rig.config import load_protocol, load_rig

    rig_path, protocol_path = _preset(args.rig), _preset(args.protocol)
    return (load_rig(rig_path), load_protocol(protocol_path), rig_path.read_text(encoding="utf-8"),
            protocol_path.read_text(encoding="utf-8"))


def _start(args, expect_backend: str) -> int:
    from rig.runner import Progress, RunnerError, start_session

    rig, protocol, rig_text, protocol_text = _load(args)
    if rig.backend != expect_backend:
        hint = "holostim run" if rig.backend == "hardware" else "holostim dry-run"
        raise RunnerError(f"{args.rig} has backend {rig.backend!r}; use `{hint}` for it")
    started = time.perf_counter()
    summary = start_session(Path(args.out), rig=rig, protocol=protocol, seed=args.seed, rig_text=rig_text,
                            protocol_text=protocol_text, slm_mode=args.slm, online_mode=args.online,
                            overwrite=args.overwrite,
                            progress=Progress(enabled=not args.no_progress),
                            extra={"protocol_name": protocol.name})
    print(format_summary(summary, time.perf_counter() - started))
    return 0


def _dry_run(args) -> int:
    return _guard(lambda: _start(args, "sim"), args.out)


def _run(args) -> int:
    return _guard(lambda: _start(args, "hardware"), args.out)


def _resume(args) -> int:
    from rig.runner import Progress, resume_session

    def go():
        started = time.perf_counter()
        summary = resume_session(Path(args.session), slm_mode=args.slm, online_mode=args.online,
                                 progress=Progress(enabled=not args.no_progress))
        print(format_summary(summary, time.perf_counter() - started))
        return 0

    return _guard(go, args.session)


def _guard(body, path) -> int:
    """A paused session prints why and how to continue, and exits 3."""
    import sys

    from rig.runner import SessionPaused

    try:
        return body()
    except SessionPaused as err:
        print(f"session paused: {err}\ncontinue with: holostim resume {path}", file=sys.stderr)
        return SessionPaused.exit_code


def format_summary(summary: dict, wall_s: float) -> str:
    """The closing summary: cells, tuned fraction, ensembles, valid trials."""
    lines = [f"session        {summary.get('path', '')}",
             f"cells          {summary.get('cells', 0)} found, {summary.get('stimmable', 0)} stimmable"]
    if "tuned_fraction" in summary:
        lines.append(f"tuning         {summary['responsive_fraction']:.0%} visually responsive, "
                     f"{summary['tuned_fraction']:.0%} tuned")
    lines.append(f"ensembles      {summary.get('ensembles', 0)}")
    if "stim_trials" in summary:
        n, v = summary["stim_trials"], summary["stim_valid"]
        lines.append(f"stim trials    {v}/{n} valid ({v / max(n, 1):.0%})")
    lines.append(f"wall time      {wall_s:.1f} s")
    return "\n".join(lines)
