"""Subcommands ``cloud-worker`` and ``provision-aws`` (heavy imports happen inside)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from edgecascade.lifecycle import stop_signals
from edgecascade.protocol.topics import DEFAULT_PREFIX

log = logging.getLogger("edgecascade.cloud")

#: How long ``CloudWorker.start`` may wait for its subscription once the broker answered.
START_TIMEOUT_S = 10.0


def add_parser(subparsers: Any) -> None:
    w = subparsers.add_parser(
        "cloud-worker", help="run a cloud worker on the shared cloud-request subscription",
        description="Answer gateways' cloud requests with the cloud model. Scale out by "
                    "starting more workers with the same shared_group. SIGTERM or Ctrl-C "
                    "drains in-hand requests and exits 0 (1 when some were left). Exit 1: "
                    "the broker is unreachable at start (see --wait); exit 2: bad config.")
    w.add_argument("--config", required=True, metavar="FILE",
                   help="worker TOML (see cloud.example.toml)")
    w.add_argument("--check", action="store_true",
                   help="validate the config and the TLS files, load the model, and exit")
    w.add_argument("--wait", action="store_true",
                   help="at start, retry until the broker answers instead of exiting 1")
    w.add_argument("--drain-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="seconds to finish in-hand requests on SIGTERM/SIGINT")
    w.add_argument("--processes", default="1", metavar="N",
                   help="worker processes on the same shared subscription, one core each "
                        "(a number, or 'auto': one per core available, or one per visible "
                        "GPU when the model runs on a GPU). "
                        "Process i is <worker_id>-i, metrics on port + i")
    w.add_argument("--instance", type=int, default=None, help=argparse.SUPPRESS)
    w.set_defaults(func=run_worker)

    p = subparsers.add_parser(
        "provision-aws", help="create an AWS IoT thing, certificate and scoped policy",
        description="Create the thing, keys and certificate, and a policy letting it use only "
                    "its own topics; write the certificate, key and a config snippet.")
    p.add_argument("--thing", required=True, help="thing name = gateway or worker id")
    p.add_argument("--role", choices=("gateway", "worker"), default="gateway",
                   help="what the thing runs: its policy allows that role's topics")
    p.add_argument("--region", default=None, help="AWS region (default: boto3's)")
    p.add_argument("--policy-name", default=None, help="IoT policy (default: edgecascade-<role>)")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix")
    p.add_argument("--out", default=".", help="directory for the files")
    p.add_argument("--endpoint-url", default=None, help=argparse.SUPPRESS)  # tests: moto
    p.set_defaults(func=run_provision)


def run_worker(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    from .processes import (
        ProcessPlan,
        auto_plan,
        child_command,
        default_processes,
        instance_config,
        supervise,
    )

    plan: ProcessPlan | None = None
    if args.processes == "auto":
        from edgecascade.models.runners.devices import gpu_ids

        plan = auto_plan(config.model, default_processes(), gpu_ids())
        processes = plan.count
    else:
        try:
            processes = int(args.processes)
        except ValueError:
            processes = 0
        if processes < 1:
            print(f"cloud-worker: --processes {args.processes!r}: a number >= 1 or 'auto'",
                  file=sys.stderr)
            return 2
    if args.instance is not None:
        config = instance_config(config, args.instance)
    elif processes > 1 and not args.check:
        with stop_signals() as stop:
            return supervise([child_command(args.config, i, args.drain_timeout,
                                            getattr(args, "log_level", None), wait=args.wait)
                              for i in range(processes)], stop, args.drain_timeout,
                             [plan.child_env(i) for i in range(processes)] if plan else None)
    from edgecascade.models.errors import ModelError

    if args.check:
        from edgecascade.models.runners.providers import ProviderRefused
        from edgecascade.mqtt import BrokerSettings, SettingsError, tls_context

        from .model import classifier_loader

        b = config.broker
        if b.url is not None and b.url.startswith("mqtts://"):
            try:
                tls_context(BrokerSettings(url=b.url, ca_file=b.ca_file, cert_file=b.cert_file,
                                           key_file=b.key_file))
            except SettingsError as exc:
                print(f"{args.config}: broker.{exc.path}: {exc.why}", file=sys.stderr)
                return 2

        try:
            model = classifier_loader(config.model)(config.model.path,
                                                    config.model.num_threads)
        except ProviderRefused as exc:
            print(f"{args.config}: model.providers: {exc}", file=sys.stderr)
            return 2
        except ModelError as exc:
            print(f"{args.config}: model.path: {exc}", file=sys.stderr)
            return 2
        print(f"{args.config}: ok ({model.model_id} v{model.model_version}: "
              f"{model.info.describe()})")
        return 0

    from edgecascade.mqtt import SettingsError
    from edgecascade.probe import STOPPED, await_broker, unreachable_line

    from .aws import AwsError, broker_settings
    from .worker import WorkerError, build_worker

    with stop_signals() as stop:
        try:
            settings = broker_settings(config)
            why = await_broker(settings, stop, wait=args.wait, what="broker")
        except (AwsError, SettingsError) as exc:
            print(f"cloud-worker: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, SettingsError) else 1
        except Exception as exc:  # boto3 missing, no AWS region or credentials...
            print(f"cloud-worker: cannot find the broker: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 1
        if why == STOPPED:
            return 0
        if why is not None:
            print(unreachable_line("cloud-worker", "broker", settings, why), file=sys.stderr)
            return 1
        try:
            worker = build_worker(config, settings=settings)
            worker.start(timeout=START_TIMEOUT_S)
        except (ModelError, AwsError, WorkerError, OSError, ValueError) as exc:
            log.error("worker failed to start", extra={"error": str(exc)})
            print(f"cloud-worker: {exc}", file=sys.stderr)
            return 1
        stop.wait()
        log.info("signal received, draining", extra={"signal": getattr(stop, "signum", None)})
        return 0 if worker.stop(args.drain_timeout) else 1


def run_provision(args: argparse.Namespace) -> int:
    from .aws import AwsError, iot_client
    from .provision import provision, write_files

    try:
        client = iot_client(args.region, args.endpoint_url)
        result = provision(client, args.thing, role=args.role, policy_name=args.policy_name,
                           prefix=args.prefix)
    except AwsError as exc:
        print(f"provision-aws: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # botocore: no credentials, no region...
        print(f"provision-aws: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    paths = write_files(result, Path(args.out))
    print(json.dumps({
        "thing": result.thing, "thing_arn": result.thing_arn,
        "certificate_arn": result.certificate_arn, "policy": result.policy_name,
        "policy_created": result.policy_created, "endpoint": result.endpoint_url,
        "files": {k: str(v) for k, v in paths.items()},
    }, indent=2))
    return 0
