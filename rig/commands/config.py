"""``holostim config validate FILE`` and ``holostim config schema``."""
from __future__ import annotations

import argparse
import json

from rig.config import json_schema, load_config


def register(subparsers) -> None:
    group = subparsers.add_parser("config", help="check config files, print their JSON Schema")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(dest="config_command", metavar="SUBCOMMAND")

    validate = sub.add_parser("validate", help="validate a rig, protocol or optimizer YAML file")
    validate.add_argument("file", help="YAML file to check")
    validate.add_argument("--kind", choices=("rig", "protocol", "optimizer"),
                          help="what the file must be (default: its 'kind' key, or inferred)")
    validate.set_defaults(func=_validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of the config files")
    schema.add_argument("--kind", choices=("rig", "protocol", "optimizer"),
                        help="one kind only (default: all three, keyed by kind)")
    schema.set_defaults(func=_schema)


def _validate(args: argparse.Namespace) -> int:
    model = load_config(args.file, args.kind)
    kind = getattr(model, "kind", type(model).__name__)
    name = getattr(model, "name", "")
    print(f"{args.file}: valid {kind} config{f' ({name})' if name else ''}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(args.kind), indent=2))
    return 0
