"""The ``holostim`` command line.

Each group of subcommands lives in its own module under :mod:`rig.commands` and adds itself to the parser with
``register(subparsers)``; the handler it sets as ``func`` takes the parsed arguments and returns an exit code.
Errors a user can cause carry an ``exit_code`` attribute (2 for bad input): they are printed as one clear
message, without a traceback. Anything else is a bug and shows its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Optional, Sequence

#: Command modules, in the order their commands appear in ``holostim --help``.
COMMAND_MODULES = (
    "rig.commands.config",
    "rig.commands.session",
    "rig.commands.run",
    "rig.commands.servers",
    "rig.commands.hologram",
    "rig.commands.optimize",
    "rig.commands.online",
    "rig.commands.sim",
)

LOG_LEVELS = ("debug", "info", "warning", "error")


def holostim_version() -> str:
    """The installed distribution's version (or 'unknown' when run from a bare checkout)."""
    try:
        return version("holostim")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="holostim",
        description="Experiment control for two-photon holographic optogenetics: run sessions on a rig or on the "
                    "simulated microscope, and analyse what was saved.")
    parser.add_argument("--version", action="version", version=f"holostim {holostim_version()}")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                        help="how much to log to stderr (default: info)")
    parser.add_argument("-v", "--verbose", action="store_const", const="debug", dest="log_level",
                        help="same as --log-level debug")
    parser.add_argument("-q", "--quiet", action="store_const", const="warning", dest="log_level",
                        help="same as --log-level warning")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    func = getattr(args, "func", None)
    if func is None:
        # A command group given without its subcommand prints that group's help.
        (getattr(args, "group_parser", None) or parser).print_help()
        return 0 if args.command is None else 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("holostim: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - user errors are reported plainly, the rest re-raised
        code = getattr(err, "exit_code", None)
        if code is None:
            raise
        print(f"holostim: {err}", file=sys.stderr)
        return int(code)


if __name__ == "__main__":
    sys.exit(main())
