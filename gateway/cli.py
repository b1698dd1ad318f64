"""``edgecascade gateway --config gateway.toml``: run one gateway until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from edgecascade.lifecycle import stop_signals

log = logging.getLogger("edgecascade.gateway")

#: How long ``Gateway.start`` may wait for the site subscription once the broker answered.
START_TIMEOUT_S = 10.0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "gateway", help="run the gateway (escalation, edge model, spool)",
        description="Run the edgecascade gateway: decide per frame between the device's "
        "answer, the edge model and the cloud; publish one final result per frame. "
        "SIGTERM or Ctrl-C stops it cleanly (no new reports; what is in hand is answered "
        "or spooled; offline state published) with exit 0. Exit 1: the site broker is "
        "unreachable at start (see --wait) or a resource is unavailable; exit 2: the "
        "config is invalid.")
    p.add_argument("--config", required=True, metavar="FILE",
                   help="gateway TOML config (see gateway.example.toml)")
    p.add_argument("--check", action="store_true",
                   help="validate the config, load the edge model, check the state "
                        "directory, the HTTP port and the TLS files, then exit (0 ok, 2 not)")
    p.add_argument("--wait", action="store_true",
                   help="at start, retry until the site broker answers instead of exiting 1")
    p.set_defaults(func=run)


def preflight(cfg: Any, *, load_model: bool,
              loaded: list[str] | None = None) -> list[tuple[str, str]]:
    """What would stop the gateway from starting, as (config path, why) pairs; what the
    edge model runs on is appended to ``loaded``."""
    loaded = [] if loaded is None else loaded
    from edgecascade.checks import port_free, writable_dir
    from edgecascade.mqtt import SettingsError, tls_context

    problems: list[tuple[str, str]] = []
    why = writable_dir(cfg.storage.state_dir)
    if why:
        problems.append(("storage.state_dir", why))
    if cfg.observe.http_port > 0:
        why = port_free(cfg.observe.http_host, cfg.observe.http_port)
        if why:
            problems.append(("observe.http_port", why))
    for section, settings in (("site", cfg.site), ("cloud_broker", cfg.cloud_broker)):
        if settings is not None and settings.tls:
            try:
                tls_context(settings)
            except SettingsError as exc:
                problems.append((f"{section}.{exc.path}", exc.why))
    if load_model and cfg.edge.model:
        from edgecascade.models.errors import ModelError
        from edgecascade.models.runners.providers import ProviderRefused
        from edgecascade.models.runtime import open_runner

        try:  # the runtime and provider the gateway would run, refused as it would be
            runner = open_runner(cfg.edge.model, cfg.edge.runtime_settings(
                cfg.storage.state_dir))
            loaded.append(f"edge {runner.model_id} v{runner.model_version}: "
                          f"{runner.info.describe()}")
        except ProviderRefused as exc:
            problems.append(("edge.providers", str(exc)))
        except ModelError as exc:
            problems.append(("edge.model", str(exc)))
    return problems


def run(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    loaded: list[str] = []
    problems = preflight(cfg, load_model=args.check, loaded=loaded)
    for path, problem in problems:
        print(f"gateway: {args.config}: {path}: {problem}", file=sys.stderr)
    if problems:
        return 2
    if args.check:
        print(f"{args.config}: ok" + "".join(f" ({line})" for line in loaded))
        return 0

    from edgecascade.models.errors import ModelError
    from edgecascade.mqtt import SettingsError
    from edgecascade.probe import STOPPED, await_broker, unreachable_line

    from .service import Gateway

    with stop_signals() as stop:
        why = await_broker(cfg.site, stop, wait=args.wait, what="site broker")
        if why == STOPPED:
            return 0
        if why is not None:
            print(unreachable_line("gateway", "site broker", cfg.site, why), file=sys.stderr)
            return 1
        from edgecascade.probe import warn_if_nagle

        # anonymous, never the gateway's login: a broker that makes the client id the
        # username would give the probe our session (and discard what is queued in it)
        warn_if_nagle(cfg.site, f"{cfg.gateway_id}-probe", what="site broker")
        try:
            gateway = Gateway(cfg).start(timeout=START_TIMEOUT_S)
        except (ModelError, SettingsError, OSError) as exc:
            print(f"gateway: cannot start: {exc}", file=sys.stderr)
            return 1
        try:
            stop.wait()
        finally:
            try:
                gateway.stop()
            except RuntimeError as exc:
                # The offline state could not be published (site broker away); the
                # broker's last will says offline instead, and every store is on disk.
                log.warning("stopped without publishing the offline state",
                            extra={"why": str(exc)})
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edgecascade.gateway [--config x]``: the subcommand word is optional."""
    from edgecascade.cli import main as edgecascade_main

    raw = list(sys.argv[1:] if argv is None else argv)
    if "gateway" not in raw:
        raw = ["gateway", *raw]
    return edgecascade_main(raw)
