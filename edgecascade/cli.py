"""The one command: ``edgecascade <subcommand>``.

Each subcommand lives with the part it drives and exposes ``add_parser(subparsers)``;
the modules are listed here and imported lazily so that ``edgecascade --help`` works
on a gateway that has not installed the training or emulator extras.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from edgecascade import __version__

#: Modules that add subcommands, in the order they appear in --help.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "edgecascade.tools.models.cli",
    "edgecascade.emulator.cli",
    "edgecascade.gateway.cli",
    "edgecascade.gateway.serial_bridge",
    "edgecascade.cloud.cli",
    "edgecascade.tools.demo.cli",
    "edgecascade.tools.site.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgecascade",
        description="Hybrid edge/cloud ML inference over MQTT.",
    )
    parser.add_argument("--version", action="version", version=f"edgecascade {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == name or name.startswith(exc.name + ".")):
                continue  # that part is not in this build
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0 if args.command is None else 2
    from edgecascade.logs import setup_logging

    setup_logging(args.log_level, json_logs=getattr(args, "json_logs", True))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
