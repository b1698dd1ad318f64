"""The one command: ``edgecascade <subcommand>``.

Each subcommand lives with the part it drives and exposes ``add_parser(subparsers)``;
the modules are listed here and imported lazily so that ``edgecascade --help`` works
on a gateway that has not installed the training or emulator extras.

Conventions every subcommand gets from here:

* the global options (``--log-level``, ``--log-format``) are accepted before or after
  the subcommand (``edgecascade gateway --config g.toml --log-level debug``);
* ``--help`` shows a description and every option's default;
* exit codes: 0 done (or stopped cleanly by SIGTERM/SIGINT), 1 failed while running
  (broker unreachable, port in use...), 2 bad usage or configuration, 130 interrupted
  by Ctrl-C before the command could stop cleanly; errors are one line on stderr,
  never a traceback for a condition the operator can fix.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from typing import Any

from edgecascade import __version__
from edgecascade.lifecycle import Interrupted, interruptible
from edgecascade.logs import FORMATS, LEVELS

#: Modules that add subcommands, in the order they appear in --help.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "edgecascade.tools.models.cli",
    "edgecascade.emulator.cli",
    "edgecascade.gateway.cli",
    "edgecascade.gateway.serial_bridge",
    "edgecascade.gateway.status",
    "edgecascade.cloud.cli",
    "edgecascade.tools.demo.cli",
    "edgecascade.tools.site.cli",
)


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already names its
    default, or the default is None/False (an absent optional value or a flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or default is None or default is False
                or default is argparse.SUPPRESS or default == []):
            return text
        return text + " (default: %(default)s)"


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--log-level`` and ``--log-format``; below the top level they default to
    SUPPRESS so that a value given before the subcommand is not overwritten."""
    group = parser.add_argument_group("global options")
    group.add_argument("--log-level", choices=LEVELS,
                       default="info" if top else argparse.SUPPRESS,
                       help="least severe log level shown (default: info)")
    group.add_argument("--log-format", choices=FORMATS,
                       default="auto" if top else argparse.SUPPRESS,
                       help="auto: text on a terminal, JSON lines otherwise (default: auto)")


class CommandParser(argparse.ArgumentParser):
    """The parser class of every subcommand (nested ones too: ``add_subparsers`` uses
    ``type(self)``): shared help formatter and the global options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        add_global_options(self, top=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgecascade",
        description="Hybrid edge/cloud ML inference over MQTT.",
        formatter_class=HelpFormatter,
        epilog="'edgecascade <command> --help' describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"edgecascade {__version__}")
    add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="<command>",
                                parser_class=CommandParser)
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
    with interruptible():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            if getattr(args, "func", None) is None:
                parser.print_help()
                return 0 if args.command is None else 2
            from edgecascade.logs import setup_logging

            fmt = args.log_format
            if fmt == "auto":  # a command may prefer text (the demo's live view)
                fmt = getattr(args, "default_log_format", "auto")
            setup_logging(args.log_level, fmt)
            return int(args.func(args) or 0)
        except Interrupted as exc:
            # Stopped before the command reached its own clean-stop handling.
            return 0 if exc.signum == signal.SIGTERM else 130
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
