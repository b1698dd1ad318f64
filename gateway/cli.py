"""``edgecascade gateway --config gateway.toml``: run one gateway until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from edgecascade.lifecycle import stop_signals


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("gateway", help="run the gateway (escalation, edge model, spool)",
                              description="Run the edgecascade gateway.")
    p.add_argument("--config", required=True, help="gateway TOML config")
    p.add_argument("--check", action="store_true", help="validate the config and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: ok")
        return 0
    from .service import Gateway

    with stop_signals() as stop:
        gateway = Gateway(cfg).start()
        try:
            stop.wait()
        finally:
            gateway.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from edgecascade.logs import setup_logging

    parser = argparse.ArgumentParser(prog="python -m edgecascade.gateway")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    raw = list(sys.argv[1:] if argv is None else argv)
    if not raw or raw[0] != "gateway":
        # `python -m edgecascade.gateway --config x` works without the subcommand word.
        level = []
        if raw[:1] == ["--log-level"]:
            level, raw = raw[:2], raw[2:]
        raw = [*level, "gateway", *raw]
    args = parser.parse_args(raw)
    setup_logging(args.log_level)
    return int(args.func(args))
