"""Subcommands of the device tier: ``devices``, ``provision-device``, ``flash``.

Imports nothing heavy at module level, so ``edgecascade --help`` works on a lean
gateway install; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from edgecascade.lifecycle import stop_signals
from edgecascade.protocol.topics import DEFAULT_PREFIX


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "devices",
        help="run a fleet of emulated devices (one MQTT session each)",
        description="Emulated devices running the mcu model through tflite-micro on the "
        "shipped test split, publishing the firmware's exact report bytes. Stops at "
        "--duration or on SIGTERM/Ctrl-C and prints a summary; exit 0 when every report "
        "was acknowledged, 1 otherwise or when the broker is unreachable at start (see "
        "--wait), 2 on bad arguments.",
    )
    p.add_argument("--count", type=int, default=10, help="number of devices")
    p.add_argument("--rate", type=float, default=1.0, help="reports per second per device")
    p.add_argument("--broker", default=None,
                   help="broker URL (default: the site's with --site-dir, else "
                        "mqtt://127.0.0.1:1883)")
    p.add_argument("--site-dir", default=None, metavar="DIR",
                   help="a site made by `edgecascade site init`: each device logs in with "
                        "its own credentials, DIR/creds/<device id>.json (so the devices "
                        "must be on the site: --id-prefix/--first/--count name them), and "
                        "the topic prefix is the site's")
    p.add_argument("--wait", action="store_true",
                   help="at start, retry until the broker answers instead of exiting 1")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="seconds to run (default: until SIGTERM or Ctrl-C)")
    p.add_argument("--prefix", default=None,
                   help=f"topic prefix <root>/v<N> (default: the site's, else {DEFAULT_PREFIX})")
    p.add_argument("--id-prefix", default="emu", help="device ids are <id-prefix>-NNNN")
    p.add_argument("--first", type=int, default=0, help="number of the first device")
    p.add_argument("--ledger", default=None,
                   help="ground-truth ledger file (.db/.sqlite: SQLite, else CSV)")
    p.add_argument("--state-file", default=None,
                   help="JSON file persisting each device's epoch and config revision")
    p.add_argument("--model", default=None, help="mcu .tflite (default: the shipped one)")
    p.add_argument("--username", default=os.environ.get("EC_DEVICES_USERNAME"),
                   help="broker user name (default: $EC_DEVICES_USERNAME)")
    p.add_argument("--password", default=os.environ.get("EC_DEVICES_PASSWORD"),
                   help="broker password (default: $EC_DEVICES_PASSWORD)")
    p.add_argument("--ca-file", default=None, help="CA bundle for mqtts:// brokers")
    p.add_argument("--cert-file", default=None, help="client certificate (PEM)")
    p.add_argument("--key-file", default=None, help="client private key (PEM)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--workload", default=None,
                   help="bundled workload (mnist, har) or an imported workload folder; "
                        "the model, frames and thresholds come from it (default mnist)")
    p.add_argument("--source", default=None, metavar="images:DIR|imu:FILE.csv",
                   help="raw sensor input instead of the workload's test split, through the "
                        "board's preprocessing: a folder of photographs (any size; the "
                        "image model), or a recorded MPU-6050 CSV (--workload har)")
    p.set_defaults(func=run_devices)

    from . import serial_cli

    serial_cli.add_parsers(sub)


def raw_dataset(args: argparse.Namespace) -> Any:
    """The ``--source`` samples (emulator.sources), or None for the workload's split."""
    if args.source is None:
        return None
    from edgecascade.models.workload import get_workload

    from .sources import load_source

    wl = get_workload(args.workload) if args.workload else get_workload()
    return load_source(args.source, wl.entry("mcu")).dataset


def run_devices(args: argparse.Namespace) -> int:
    from edgecascade.models.errors import ModelError
    from edgecascade.mqtt import DEFAULT_URL, BrokerSettings, SettingsError
    from edgecascade.protocol import ProtocolError, Topics

    from .fleet import Fleet, site_credentials
    from .ledger import GroundTruth
    from .model import DEFAULT_MODEL, EmulatorModelError, FrameSource

    try:
        credentials = None
        prefix = args.prefix or DEFAULT_PREFIX
        if args.site_dir:  # each device its own login; the site's broker, CA and prefix
            credentials, settings, site_prefix = site_credentials(args.site_dir, args.broker)
            prefix = args.prefix or site_prefix
        else:
            settings = BrokerSettings(args.broker or DEFAULT_URL, username=args.username,
                                      password=args.password, ca_file=args.ca_file,
                                      cert_file=args.cert_file, key_file=args.key_file)
        topics = Topics(prefix)
        source = FrameSource(args.model or (None if args.workload else DEFAULT_MODEL),
                             workload=args.workload, dataset=raw_dataset(args))
        fleet = Fleet(settings, topics, args.count, args.rate, id_prefix=args.id_prefix,
                      first=args.first, source=source, ledger=GroundTruth(args.ledger),
                      state_file=args.state_file, credentials=credentials)
    except (SettingsError, ProtocolError, EmulatorModelError, ModelError, ValueError) as exc:
        print(f"edgecascade devices: {exc}", file=sys.stderr)  # --workload NAME included
        return 2
    from edgecascade.probe import STOPPED, await_broker, unreachable_line

    with stop_signals() as done:
        try:
            why = await_broker(settings, done, wait=args.wait)
        except SettingsError as exc:
            why = str(exc)
            print(f"edgecascade devices: {why}", file=sys.stderr)
            return 2
        if why is not None:
            fleet.ledger.close()
            if why == STOPPED:
                return 0
            print(unreachable_line("edgecascade devices", "broker", settings, why),
                  file=sys.stderr)
            return 1
        fleet.start()
        done.wait(args.duration)
        stats = fleet.stop()
    fleet.ledger.close()
    if args.json:
        print(json.dumps({**stats.as_dict(), "devices": stats.devices,
                          "delivered_share": stats.delivered_share,
                          "attached_share": stats.attached_share,
                          "buffered": stats.buffered, "inflight": stats.inflight}))
    else:
        print(stats.summary())
    if stats.made and not stats.connects:
        print(f"edgecascade devices: no device connected to {settings.url} (the broker "
              f"answered but refused them: check --username/--password and its ACLs)",
              file=sys.stderr)
        return 1
    return 0 if stats.sent == stats.acked and stats.driver_errors == 0 else 1
