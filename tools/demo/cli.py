"""``edgecascade demo``: arguments and the entry point."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgecascade.protocol.topics import DEFAULT_PREFIX


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run the whole system on this machine and report accuracy, tiers, latency, cost",
        description="Start brokers (mosquitto if installed, else embedded amqtt), a cloud "
        "worker, a gateway and a fleet of emulated devices replaying the workload's test "
        "split; show live progress and end with a report (also written as JSON and HTML).",
    )
    p.add_argument("--devices", type=int, default=10, help="emulated devices")
    p.add_argument("--rate", type=float, default=5.0, help="reports per second per device")
    p.add_argument("--duration", type=float, default=20.0, metavar="SECONDS",
                   help="seconds of reporting")
    p.add_argument("--broker", default=None,
                   help="site broker URL (mqtt://host:port) instead of starting one; what "
                   "the run retains there (device states, Home Assistant entities) is "
                   "cleared at the end unless --keep")
    p.add_argument("--keep", action="store_true",
                   help="leave the run's retained states and HA entities on --broker")
    p.add_argument("--cloud-broker", default=None,
                   help="cloud broker URL instead of starting one")
    p.add_argument("--embedded-broker", action="store_true",
                   help="use the embedded amqtt broker even when mosquitto is installed")
    p.add_argument("--wan-delay-ms", type=float, default=30.0, metavar="MS",
                   help="simulated one-way delay between gateway and cloud")
    p.add_argument("--outage", type=float, default=0.0, metavar="SECONDS",
                   help="cut the cloud link for this long in the middle of the run")
    p.add_argument("--out", type=Path, default=Path("edgecascade-demo"),
                   help="folder for report.json and report.html")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix")
    p.add_argument("--dump", type=Path, default=None,
                   help="also write every frame's ground truth and results (JSON lines)")
    p.add_argument("--workload", default="mnist",
                   help="mnist, har, or the folder `models import` wrote (default mnist)")
    p.add_argument("--no-live", action="store_true", help="print progress lines, no live view")
    p.add_argument("--secure", action="store_true",
                   help="run on a secured site: `edgecascade site` configs (TLS, no anonymous "
                   "access, one identity per device, ACLs), every party logged in as itself")
    p.add_argument("--runtime", default="auto",
                   choices=["litert", "onnxruntime", "torch", "auto"],
                   help="runtime of the edge and cloud models (default auto: a GPU where "
                        "one is active, else LiteRT for .tflite and ONNX Runtime for .onnx "
                        "tiers; onnxruntime and torch run the registered ONNX twins)")
    p.add_argument("--audit-share", type=float, default=0.01, metavar="X",
                   help="share of confident reports the devices attach for an audit by the "
                        "edge model (default 0.01; the report compares the live accuracy "
                        "estimate with the true accuracy)")
    p.add_argument("--drift-at", type=float, default=None, metavar="SECONDS",
                   help="inject drift: from this many seconds into the run, some devices "
                        "replay changed frames (--drift-kind); the report says when the "
                        "drift alarm fired")
    p.add_argument("--drift-kind", default="rotate", choices=["rotate", "noise"],
                   help="rotate: frames turned by 90 degrees; noise: Gaussian noise")
    p.add_argument("--drift-share", type=float, default=0.3, metavar="X",
                   help="share of devices that drift (default 0.3, at least one)")
    p.set_defaults(func=main, default_log_format="text")


def main(args: argparse.Namespace) -> int:
    import logging

    from edgecascade.tools.demo.runner import DemoOptions, run_demo

    if args.devices < 1 or args.rate <= 0 or args.duration <= 0 or args.outage < 0:
        print("demo: --devices, --rate and --duration must be positive, --outage >= 0",
              file=sys.stderr)
        return 2
    if not (0 <= args.audit_share <= 0.5 and 0 < args.drift_share <= 1) or \
            (args.drift_at is not None and args.drift_at < 0):
        print("demo: --audit-share must be within 0..0.5, --drift-share within (0, 1], "
              "--drift-at >= 0", file=sys.stderr)
        return 2
    problem = workload_problem(args.workload)
    if problem:
        print(f"demo: {problem}", file=sys.stderr)
        return 2
    if args.log_level == "info":
        logging.getLogger().setLevel(logging.WARNING)  # the live view is the output
    report = run_demo(DemoOptions(
        devices=args.devices, rate=args.rate, duration=args.duration, broker=args.broker,
        cloud_broker=args.cloud_broker, embedded=args.embedded_broker,
        wan_delay_ms=args.wan_delay_ms, outage=args.outage, out=args.out, prefix=args.prefix,
        live=not args.no_live, dump=args.dump, secure=args.secure, workload=args.workload,
        keep=args.keep, runtime=args.runtime, audit_share=args.audit_share,
        drift_at=args.drift_at, drift_kind=args.drift_kind, drift_share=args.drift_share,
    ))
    if report is None:
        return 1
    if report.interrupted:
        return 130
    return 0 if report.unanswered == 0 and report.duplicate_finals == 0 else 1


def workload_problem(name: str) -> str:
    """Why ``--workload`` cannot run (one line naming the path), or ''."""
    from edgecascade.models.errors import ModelError
    from edgecascade.models.workload import get_workload

    try:
        wl = get_workload(name)
        wl.registry(verify=False)
    except ModelError as exc:
        hint = "" if Path(name).is_dir() or "/" in name else \
            " (an imported workload is named by its folder, e.g. --workload models/NAME)"
        return f"--workload {name}: {exc}{hint}"
    if not wl.split_path("test").is_file():
        return (f"--workload {name}: {wl.split_path('test')}: no test split to replay "
                "(import with --test)")
    return ""
