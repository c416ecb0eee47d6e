"""``holostim session info SESSION.h5 [--json]``."""
from __future__ import annotations

import argparse
import json

from rig.session import SessionReader


def register(subparsers) -> None:
    group = subparsers.add_parser("session", help="inspect session files")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(dest="session_command", metavar="SUBCOMMAND")
    info = sub.add_parser("info", help="format, configs, stages, counts, and whether the file was closed cleanly")
    info.add_argument("session", help="session file (.h5)")
    info.add_argument("--json", action="store_true", help="print JSON (with the configs as given)")
    info.set_defaults(func=_info)


def _info(args: argparse.Namespace) -> int:
    with SessionReader(args.session) as reader:
        info = reader.info()
        if args.json:
            data = info.to_dict()
            data["configs"] = {"rig": reader.rig_text, "protocol": reader.protocol_text,
                               "rig_validated": reader.rig.model_dump(mode="json"),
                               "protocol_validated": reader.protocol.model_dump(mode="json")}
            print(json.dumps(data, indent=2))
            return 0
    print(format_info(info))
    return 0


def format_info(info) -> str:
    """Human-readable summary of a :class:`rig.session.records.SessionInfo`."""
    by_block = ", ".join(f"{block} {info.valid_by_block.get(block, 0)}/{n}"
                         for block, n in info.trials_by_block.items()) or "none"
    state = "yes" if info.closed_cleanly else "NO (still being written, or the writer died: resume recovers it)"
    return "\n".join([
        f"session        {info.path}",
        f"format         holostim-session {info.format_version}",
        f"created        {info.created_utc}   seed {info.seed}   holostim {info.software.get('holostim', '?')}",
        f"rig            {info.rig_name} (backend {info.backend})",
        f"protocol       {info.protocol_name}",
        f"stages done    {', '.join(info.stages) or 'none'}",
        f"cells          {info.n_cells}",
        f"ensembles      {info.n_ensembles}   holograms {info.n_holograms}",
        f"trials         {info.n_trials} written, {info.n_trials_valid} valid   (valid/written: {by_block})",
        f"frames/plane   {', '.join(str(n) for n in info.n_frames)}   events {info.n_events}",
        f"closed cleanly {state}",
    ])
