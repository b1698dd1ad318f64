"""``edgecascade status``: a running gateway at a glance, for people and scripts.

Reads the gateway's ``/readyz`` and ``/metrics`` (Prometheus text) and, when a broker is
known (``--config``, ``--broker`` or ``--creds``), the retained device state topics for
how many devices are online. :func:`summarize` and :func:`render` are pure; the rest is I/O.

It never logs in as the gateway: on a broker that makes the client id the username
(``use_username_as_clientid``, every site made by ``edgecascade site init``) that would
close the gateway's connection and, being a clean session, discard the gateway's queued
reports. With ``--config`` it takes the broker's address and CA from the gateway's
config but no login; ``--creds`` names a site credentials file of its own (``site init``
makes a ``status`` identity, a dashboard: it may read device states and nothing else).

Exit 0 when the gateway is ready, 1 when it is not (or does not answer), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from edgecascade.protocol.topics import DEFAULT_PREFIX

#: circuit_state gauge values (gateway/breaker.py) -> words.
CLOUD_LINK = {0: "up (breaker closed)", 1: "probing (breaker half-open)",
              2: "down (breaker open)"}


@dataclass(frozen=True)
class SiteStatus:
    reachable: bool
    ready: bool
    readiness: str
    devices_online: int | None = None  # None: no broker to ask
    devices_known: int | None = None
    reports: float = 0.0
    results_by_tier: Mapping[str, float] = field(default_factory=dict)
    cloud_link: str = "unknown"
    cloud_in_flight: float = 0.0
    cloud_timeouts: float = 0.0
    spool_frames: float = 0.0
    spool_bytes: float = 0.0
    budget_spent: float = 0.0
    storage_degraded: bool = False
    edge_backend: Mapping[str, str] = field(default_factory=dict)  # backend, provider, device
    # issue 22: the label-free live accuracy (None before any answer) and drift
    live_accuracy: tuple[float, float, float] | None = None  # estimate, low, high
    live_answers: float = 0.0
    audit_agreement: float | None = None
    audits: float = 0.0
    drift_firing: float = 0.0
    drift_site: bool = False
    devices_silent: float = 0.0

    @property
    def tier_shares(self) -> dict[str, float]:
        total = sum(self.results_by_tier.values())
        return {t: n / total for t, n in sorted(self.results_by_tier.items())} if total else {}

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "results_by_tier": dict(self.results_by_tier),
                "tier_shares": self.tier_shares, "edge_backend": dict(self.edge_backend)}


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text -> sample name -> [(labels, value)]."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def summarize(ready: tuple[int, str] | None, metrics_text: str | None,
              devices: Mapping[str, bool] | None = None, *,
              cloud_enabled: bool = True) -> SiteStatus:
    """The status from what was read (``ready``: HTTP code and body; None: no answer)."""
    if ready is None:
        return SiteStatus(reachable=False, ready=False, readiness="gateway does not answer")
    samples = parse_metrics(metrics_text) if metrics_text else {}

    def one(name: str) -> float:
        return sum(v for _, v in samples.get(f"ec_gateway_{name}", []))

    tiers: dict[str, float] = {}
    for labels, value in samples.get("ec_gateway_results_total", []):
        tiers[labels.get("tier", "?")] = tiers.get(labels.get("tier", "?"), 0.0) + value
    cloud = samples.get("ec_gateway_circuit_state")
    return SiteStatus(
        reachable=True, ready=ready[0] == 200, readiness=ready[1].strip(),
        devices_online=None if devices is None else sum(devices.values()),
        devices_known=None if devices is None else len(devices),
        reports=one("reports_total"), results_by_tier=tiers,
        cloud_link=("disabled" if not cloud_enabled else
                    CLOUD_LINK.get(int(cloud[0][1]), "unknown") if cloud else "unknown"),
        cloud_in_flight=one("cloud_in_flight"), cloud_timeouts=one("cloud_timeouts_total"),
        spool_frames=one("spool_depth"), spool_bytes=one("spool_bytes"),
        budget_spent=one("budget_spent"), storage_degraded=one("storage_degraded") > 0,
        edge_backend=next((labels for labels, v in samples.get(
            "ec_gateway_edge_backend_info", []) if v), {}),
        live_accuracy=((one("live_accuracy"), one("live_accuracy_low"),
                        one("live_accuracy_high")) if one("live_accuracy_answers") > 0
                       else None),
        live_answers=one("live_accuracy_answers"),
        audit_agreement=one("audit_agreement") if one("audits_in_window") > 0 else None,
        audits=one("audits_in_window"), drift_firing=one("drift_firing"),
        drift_site=one("drift_site_firing") > 0, devices_silent=one("devices_silent"))


def render(s: SiteStatus, budget: float | None = None) -> str:
    if not s.reachable:
        return f"gateway   DOWN  {s.readiness}"
    lines = [f"gateway   {'READY' if s.ready else 'NOT READY'}  {s.readiness}"]
    if s.devices_known is not None:
        lines.append(f"devices   {s.devices_online} online of {s.devices_known} known")
    shares = "  ".join(f"{t} {share:.1%}" for t, share in s.tier_shares.items()) or "-"
    lines.append(f"results   {sum(s.results_by_tier.values()):.0f} of {s.reports:.0f} reports"
                 f"   {shares}")
    if s.edge_backend:
        b = s.edge_backend
        lines.append(f"edge      backend={b.get('backend')} provider={b.get('provider')} "
                     f"device={b.get('device')!r} {b.get('precision', '')}"
                     + ("  (GPU asked for: CPU FALLBACK)" if b.get("fallback") == "true"
                        else ""))
    lines.append(f"cloud     {s.cloud_link}, {s.cloud_in_flight:.0f} in flight, "
                 f"{s.cloud_timeouts:.0f} timed out")
    lines.append(f"spool     {s.spool_frames:.0f} frames, {s.spool_bytes / 1024:.1f} KiB")
    of = f" of {budget:.0f}" if budget is not None else ""
    lines.append(f"budget    {s.budget_spent:.0f}{of} billed messages this window")
    if s.storage_degraded:
        lines.append("storage   DEGRADED (the state disk refuses writes)")
    if s.live_accuracy is not None:
        est, lo, hi = s.live_accuracy
        agree = (f", audits agree {s.audit_agreement:.1%} of {s.audits:.0f}"
                 if s.audit_agreement is not None else ", no audits yet")
        lines.append(f"accuracy  {est:.2%} live estimate [{lo:.2%}, {hi:.2%}] over "
                     f"{s.live_answers:.0f} answers (no labels{agree})")
    if s.drift_firing or s.devices_silent:
        where = "site-wide and per device" if s.drift_site else "per device"
        lines.append(f"alarms    {s.drift_firing:.0f} drift alarm(s) firing ({where}), "
                     f"{s.devices_silent:.0f} device(s) silent")
    return "\n".join(lines)


# -- I/O -----------------------------------------------------------------------------------
def read_http(base: str, timeout: float) -> tuple[tuple[int, str] | None, str | None]:
    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base.rstrip("/") + path, timeout=timeout) as r:
                return int(r.status), r.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:  # 503 from /readyz is an answer
            return int(exc.code), exc.read().decode(errors="replace")

    try:
        ready = get("/readyz")
        code, metrics = get("/metrics")
    except (urllib.error.URLError, OSError, ValueError):
        return None, None
    return ready, metrics if code == 200 else None


def read_devices(settings: Any, topics: Any, timeout: float) -> dict[str, bool] | None:
    """Retained device states: id -> online (None when the broker cannot be read).

    The broker sends the retained messages of a subscription before anything it handles
    later on the same connection, so a message of our own, published after the SUBACK
    on a topic of our own, arrives after all of them: that is when the picture is whole.
    """
    import uuid

    from edgecascade.mqtt import make_client
    from edgecascade.protocol import DeviceState, ProtocolError, TopicKind, decode

    client_id = f"ec-status-{uuid.uuid4().hex[:8]}"
    barrier = f"edgecascade-probe/{client_id}"
    seen: dict[str, bool] = {}
    done = threading.Event()
    mids: dict[str, int] = {}

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        try:
            state = decode(DeviceState, bytes(msg.payload))
        except ProtocolError:
            return
        seen[state.device_id] = state.online

    def on_connect(c: Any, userdata: Any, flags: Any, rc: Any, *a: Any) -> None:
        if getattr(rc, "is_failure", False):  # refused (no login on a secured site)
            done.set()
            return
        # QoS 0: the retained states are not held behind the broker's in-flight window
        mids["states"] = c.subscribe(topics.filter(TopicKind.DEVICE_STATE), 0)[1]

    def on_subscribe(c: Any, userdata: Any, mid: int, *a: Any) -> None:
        # The broker sends a subscription's retained messages before it handles the
        # next packet: the SUBACK of a second subscription (granted or not: a
        # dashboard may subscribe to little) comes after all of them.
        if mid == mids.get("states"):
            mids["barrier"] = c.subscribe(barrier, 0)[1]
        elif mid == mids.get("barrier"):
            done.set()

    client = make_client(settings, client_id)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(settings.host, settings.port, keepalive=settings.keepalive)
    except OSError:
        return None
    client.loop_start()
    try:
        return dict(seen) if done.wait(timeout) and "barrier" in mids else None
    finally:
        client.disconnect()
        client.loop_stop()


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "status", help="a running gateway at a glance (readiness, devices, tiers, cloud, spool)",
        description="Read a running gateway's /readyz and /metrics (and, with --config or "
        "--broker, the retained device states) and print the site at a glance. Exit 0 "
        "when the gateway is ready, 1 when it is not or does not answer.")
    p.add_argument("--config", metavar="FILE",
                   help="gateway TOML: its observe.http_* address, site broker and budget")
    p.add_argument("--url", help="gateway HTTP address (default: from --config, else "
                                 "http://127.0.0.1:9108)")
    p.add_argument("--broker", help="site broker URL for device states (default: from "
                                    "--config or --creds; none: devices not shown)")
    p.add_argument("--creds", metavar="FILE",
                   help="site credentials file to read device states with (e.g. "
                        "site/creds/status.json from `edgecascade site init`); without it "
                        "the broker is read without a login, never with the gateway's")
    p.add_argument("--prefix", default=DEFAULT_PREFIX,
                   help="topic prefix (without --config)")
    p.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS",
                   help="per request")
    p.add_argument("--wait-ready", type=float, default=0.0, metavar="SECONDS",
                   help="poll until the gateway is ready, at most this long (a unit's "
                        "ExecStartPost); 0: ask once")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgecascade.mqtt import BrokerSettings, SettingsError, creds_settings
    from edgecascade.probe import anonymous
    from edgecascade.protocol import ProtocolError, Topics

    url, settings, budget, cloud_enabled = args.url, None, None, True
    try:
        topics = Topics(args.prefix)
        if args.config:
            from .config import ConfigError, load_config

            try:
                cfg = load_config(args.config)
            except ConfigError as exc:
                print(f"status: {exc}", file=sys.stderr)
                return 2
            host = cfg.observe.http_host if cfg.observe.http_host != "0.0.0.0" else "127.0.0.1"
            url = url or f"http://{host}:{cfg.observe.http_port}"
            settings, topics = anonymous(cfg.site), cfg.topics  # never the gateway's login
            cloud_enabled = cfg.cloud.enabled
            if math.isfinite(cfg.cloud.budget_messages):
                budget = cfg.cloud.budget_messages
        if args.creds:
            settings = creds_settings(args.creds, url=args.broker or (
                settings.url if settings is not None else None))
        elif args.broker:
            settings = BrokerSettings(args.broker)
    except (SettingsError, ProtocolError) as exc:
        print(f"status: {exc}", file=sys.stderr)
        return 2
    ready, metrics = read_http(url or "http://127.0.0.1:9108", args.timeout)
    if args.wait_ready > 0:
        from edgecascade.lifecycle import stop_signals

        deadline = time.monotonic() + args.wait_ready
        with stop_signals() as stop:
            while (ready is None or ready[0] != 200) and time.monotonic() < deadline:
                if stop.wait(0.5):
                    return 1
                ready, metrics = read_http(url or "http://127.0.0.1:9108", args.timeout)
    try:
        devices = read_devices(settings, topics, args.timeout) if settings else None
    except SettingsError as exc:
        print(f"status: site broker: {exc}", file=sys.stderr)
        return 2
    status = summarize(ready, metrics, devices, cloud_enabled=cloud_enabled)
    if args.json:
        print(json.dumps({**status.as_dict(), "budget": budget}, sort_keys=True))
    else:
        print(render(status, budget))
    return 0 if status.ready else 1
