"""``edgecascade demo``: the whole system on one box, with a live view and a report.

Site broker and cloud broker (mosquitto when installed, else the embedded amqtt), a
simulated WAN link between the gateway and the cloud broker (delay, and cut for
``--outage``), one cloud worker, the gateway, and a fleet of emulated devices that
replay the workload's test split (the bundled MNIST's by default, or that of
``--workload``: har, or the folder ``models import`` wrote). Everything runs in this
process; Ctrl-C stops it cleanly and still prints the report so far. On an external
``--broker`` it removes what it retained there (its devices' states and Home Assistant
entities, the gateway's) unless ``keep``.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import Topics
from edgecascade.protocol.topics import DEFAULT_PREFIX
from edgecascade.tools.demo.baseline import cloud_only_cost_per_frame, offline_cascade
from edgecascade.tools.demo.drift import apply_drift, drift_plan
from edgecascade.tools.demo.monitoring_report import summarize as monitoring_summary
from edgecascade.tools.demo.observer import Observer
from edgecascade.tools.demo.outputs import dump_frames, run_parameters, write_outputs
from edgecascade.tools.demo.report import (
    DemoReport,
    SeenResult,
    SentFrame,
    percentile,
    render_text,
    summarize,
)
from edgecascade.tools.demo.stack import Stack, start_broker
from edgecascade.tools.demo.timeline import Sample
from edgecascade.tools.site.demo import GATEWAY, OBSERVER, WORKER, demo_site, login, login_section

log = logging.getLogger("edgecascade.demo")
DEVICE_PREFIX = "demo"  # the emulated devices are demo-0000, demo-0001, ...
GATEWAY_ID = "demo-gw"


@dataclass(frozen=True)
class DemoOptions:
    devices: int = 10
    rate: float = 5.0  # reports per second per device
    duration: float = 20.0  # seconds of reporting
    broker: str | None = None  # site broker URL; None: start one here
    cloud_broker: str | None = None  # cloud broker URL; None: start one here
    embedded: bool = False  # use the embedded amqtt broker even if mosquitto is installed
    wan_delay_ms: float = 30.0
    outage: float = 0.0  # seconds of cloud outage in the middle of the run
    out: Path = Path("edgecascade-demo")
    prefix: str = DEFAULT_PREFIX
    settle_timeout: float = 60.0  # how long to wait for answers after the last report
    live: bool = True
    dump: Path | None = None  # write every frame's truth and answers here (JSON lines)
    secure: bool = False  # a secured site (tools/site): TLS, one identity each, ACLs
    workload: str = "mnist"  # a bundled workload (mnist, har) or an imported folder
    keep: bool = False  # leave what the run retained on an external --broker
    audit_share: float = 0.01  # issue 22: confident reports audited (tools/demo/drift.py)
    drift_at: float | None = None  # --drift-at: seconds into the run; None: no drift
    drift_kind: str = "rotate"
    drift_share: float = 0.3
    runtime: str = "auto"  # edge and cloud model runtime: litert, onnxruntime, torch, auto

    def device_ids(self) -> list[str]:
        return [f"{DEVICE_PREFIX}-{i:04d}" for i in range(self.devices)]

    @property
    def reports_per_device(self) -> int:
        return max(1, round(self.rate * self.duration))


def clean_external(opts: DemoOptions, broker: BrokerSettings) -> str:
    """Clear what the run retained on an external site broker (its devices' states and
    configs, the JSON view, the Home Assistant entities, the gateway's): a broker HA
    watches keeps no phantom devices. One line saying what was done."""
    from edgecascade.tools.site.retire import clear_retained, device_topics, gateway_topics

    topics = Topics(opts.prefix)
    todo = [t for d in opts.device_ids() for t in device_topics(topics, d)]
    todo += gateway_topics(topics, GATEWAY_ID)
    try:
        done = clear_retained(broker, todo, client_id="edgecascade-demo-clean")
    except OSError as exc:
        return f"clean-up: {opts.broker} not reachable ({exc}); run `edgecascade site " \
               f"retire-device` for {DEVICE_PREFIX}-0000.. later"
    return (f"clean-up: cleared {done} retained topics on {opts.broker} ({opts.devices} "
            f"devices, gateway {GATEWAY_ID}; --keep leaves them)")


def backend_text(model: Any) -> str:
    """`` on backend=... provider=... device=...`` for a model that says what runs it."""
    info = getattr(model, "info", None)
    return f" on {info.describe()}" if info is not None else ""


def split_name(wl: Any) -> str:
    from edgecascade.models.workload import WORKLOADS

    bundled = WORKLOADS.get(wl.name)
    where = ("the shipped" if bundled is not None and bundled.root == wl.root
             else f"{wl.name}'s")
    return f"{where} test split, {wl.split_path('test')}"


@contextlib.contextmanager
def quiet_logs(level: int = logging.WARNING) -> Iterator[None]:
    root = logging.getLogger()
    old = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(old)


def progress_line(elapsed: float, sent: int, total: int, seen: list[SeenResult],
                  reports: dict[tuple[str, int, int], float],
                  truth: Callable[[tuple[str, int, int]], int | None], outage: str) -> str:
    first: dict[tuple[str, int, int], SeenResult] = {}
    for s in seen:
        first.setdefault(s.result.key, s)
    tiers = Counter(s.result.tier for s in first.values())
    answered = len(first)
    correct = sum(1 for k, s in first.items() if truth(k) == s.result.label)
    lat = [(s.received_at - reports[k]) * 1000 for k, s in first.items() if k in reports]
    cost = sum(s.result.cost for s in seen)
    mix = " ".join(f"{t} {n / answered:4.0%}" for t, n in sorted(tiers.items())) if answered \
        else "-"
    acc = f"{correct / answered:6.2%}" if answered else "   -  "
    p50 = f"{percentile(lat, 50):6.1f}" if lat else "   -  "
    return (f"[{elapsed:5.1f}s] sent {sent:5d}/{total}  answered {answered:5d}  acc {acc}  "
            f"p50 {p50} ms  cost {cost:6.1f} msgs  {mix}{outage}")


def run_demo(opts: DemoOptions, write: Callable[[str], None] = print) -> DemoReport | None:
    from edgecascade.cloud.config import ModelConfig, WorkerConfig
    from edgecascade.cloud.worker import build_worker
    from edgecascade.config import HttpSection
    from edgecascade.emulator.fleet import Fleet
    from edgecascade.emulator.ledger import GroundTruth
    from edgecascade.emulator.model import FrameSource
    from edgecascade.gateway.config import (
        EdgeConfig,
        GatewayConfig,
        MonitoringConfig,
        StorageConfig,
    )
    from edgecascade.gateway.dashboards import DashboardsConfig
    from edgecascade.gateway.service import Gateway
    from edgecascade.models.cascade import load_settings
    from edgecascade.models.workload import get_workload
    from edgecascade.tools.demo.wanlink import WanLink

    wl = get_workload(opts.workload)
    registry = wl.registry()
    topics = Topics(opts.prefix)
    stack = Stack()
    workdir = Path(tempfile.mkdtemp(prefix="edgecascade-demo-"))
    stack.add("workdir", lambda: shutil.rmtree(workdir, ignore_errors=True))
    opts.out.mkdir(parents=True, exist_ok=True)
    ledger = GroundTruth()
    observer: Observer | None = None
    outage_window: tuple[float, float] | None = None
    spool_peak = 0.0
    samples: list[Sample] = []
    site_kind = cloud_kind = "not started"
    drain_seconds: float | None = None
    total = opts.devices * opts.reports_per_device
    gateway: Any = None
    secure: Any = None
    sample_frame: Any = None
    interrupted = False
    drift = drift_plan(opts)  # issue 22 (tools/demo/drift.py)
    drift_applied: Any = None
    field_state: Any = None
    try:
        # -- brokers ------------------------------------------------------------------
        embedded = opts.embedded
        secure = demo_site(workdir / "site", opts.prefix, opts.devices) if opts.secure else None
        if secure is not None:  # the shipped secure configs; each party logs in as itself
            stack.add("secure brokers", secure.stop)
            (site_url, site_kind), (cloud_url, cloud_kind) = secure.described()
        elif opts.broker:
            site_url, site_kind = opts.broker, "existing broker"
        else:
            site_url, site_kind = start_broker("site", workdir, embedded, stack)
        if opts.cloud_broker and secure is None:
            cloud_url, cloud_kind = opts.cloud_broker, "existing broker"
        elif secure is None:
            cloud_url, cloud_kind = start_broker("cloud", workdir, embedded, stack)
        shared = "amqtt" not in cloud_kind
        write(f"site broker:  {site_url}  [{site_kind}]")
        write(f"cloud broker: {cloud_url}  [{cloud_kind}]")
        cloud = BrokerSettings(cloud_url)
        wan = WanLink(cloud.host, cloud.port, delay_ms=opts.wan_delay_ms).start()
        stack.add("WAN link", wan.stop)
        write(f"WAN link:     {wan.url} -> cloud broker, {opts.wan_delay_ms:.0f} ms each way")

        # -- cloud worker ---------------------------------------------------------------
        cloud_model = registry.for_tier("cloud")
        worker = build_worker(WorkerConfig(
            worker_id="demo-worker-1",
            model=ModelConfig(path=str(cloud_model.path), runtime=opts.runtime),
            prefix=opts.prefix,
            shared_group="ec-workers" if shared else "",
            broker=login_section(secure, WORKER, cloud_url),
        ))
        worker.start()
        stack.add("cloud worker", worker.stop)
        write(f"cloud worker: demo-worker-1 running {cloud_model.id} v{cloud_model.version}"
              f" ({'shared subscription' if shared else 'plain subscription'})"
              f"{backend_text(worker.classifier)}")

        # -- gateway --------------------------------------------------------------------
        edge_model = registry.for_tier("edge")
        gateway = Gateway(GatewayConfig(
            gateway_id=GATEWAY_ID,
            prefix=opts.prefix,
            broker=login(secure, GATEWAY, site_url), cloud_broker=login(secure, GATEWAY, wan.url),
            thresholds=load_settings(wl.thresholds_path).thresholds,
            edge=EdgeConfig(model=str(edge_model.path), runtime=opts.runtime),
            storage=StorageConfig(state_dir=str(workdir / "gateway-state")),
            http=HttpSection(port=0), metrics_interval_s=2.0,
            # A user watching the broker sees both (issue 11).
            dashboards=DashboardsConfig(json_view=True, ha_discovery=True),
            monitoring=MonitoringConfig(audit_share=opts.audit_share,
                                        reference=str(wl.thresholds_path)),
            fusion=load_settings(wl.thresholds_path).fusion,  # as calibrated (issue 22)
        ))
        gateway.dashboards.live.truth = lambda k: (t.label if (t := ledger.get(k)) else None)
        gateway.start()
        stack.add("gateway", gateway.stop)
        write(f"gateway:      demo-gw running {edge_model.id} v{edge_model.version}"
              f"{backend_text(gateway.edge)}, metrics on http://127.0.0.1:{gateway.http_port}/metrics")
        write(f"dashboard:    http://127.0.0.1:{gateway.http_port}/  (live), JSON view on "
              f"{gateway.dashboards.json.all()}, Home Assistant discovery on homeassistant/#")

        observer = Observer(login(secure, OBSERVER, site_url), topics).start()
        stack.add("observer", observer.stop)

        # -- devices --------------------------------------------------------------------
        fleet = Fleet(BrokerSettings(site_url), topics, opts.devices, opts.rate,
                      id_prefix=DEVICE_PREFIX, reports=opts.reports_per_device, ledger=ledger,
                      credentials=(lambda d: login(secure, d, site_url)) if secure else None,
                      source=FrameSource(workload=wl))
        sample_frame = fleet.source.answer(0).frame
        write(f"devices:      {opts.devices} emulated devices x {opts.reports_per_device} "
              f"reports at {opts.rate:g} Hz ({total} frames from {split_name(wl)})")
        if opts.outage:
            write(f"outage:       the WAN link is cut for {opts.outage:g} s mid-run")
        write("")
        fleet.start()
        stack.add("devices", fleet.stop)
        started = time.monotonic()
        cut_at = started + max(0.0, opts.duration / 2 - opts.outage / 2) if opts.outage else None
        restored_at: float | None = None
        last_print = 0.0

        def truth(key: tuple[str, int, int]) -> int | None:
            t = ledger.get(key)
            return t.label if t else None

        while True:
            now = time.monotonic()
            if drift is not None and drift_applied is None and now - started >= drift.at_s:
                drift_applied = apply_drift(drift, fleet, wl, now - started)
                write(f"\ndrift:        {drift.kind} frames from now on for "
                      f"{', '.join(drift_applied.devices)}")
            if cut_at is not None and now >= cut_at and wan.up and restored_at is None:
                wan.cut()
                outage_window = (time.time(), time.time() + opts.outage)
            if (outage_window is not None and restored_at is None
                    and time.time() >= outage_window[1]):
                wan.restore()
                restored_at = now
            depth = float(gateway.spool.depth) if gateway.spool is not None else 0.0
            spool_peak = max(spool_peak, depth)
            if not samples or time.time() - samples[-1].at >= 0.25:
                samples.append(Sample(time.time(), depth, gateway.metrics.value("circuit_state")))
            if restored_at is not None and drain_seconds is None and depth == 0:
                drain_seconds = now - restored_at
            reports, seen = observer.snapshot()
            answered = {s.result.key for s in seen}
            if now - last_print >= 1.0:
                last_print = now
                tag = ""
                if outage_window is not None and restored_at is None:
                    tag = f"  CLOUD DOWN, spool {depth:.0f}"
                elif depth:
                    tag = f"  spool {depth:.0f}"
                line = progress_line(now - started, len(reports), total, seen, reports, truth,
                                     tag)
                if opts.live and sys.stdout.isatty():
                    sys.stdout.write("\r" + line[:160].ljust(160))
                    sys.stdout.flush()
                else:
                    write(line)
            outage_done = outage_window is None or (restored_at is not None and depth == 0)
            all_sent = fleet.stats.sent >= total or now - started > opts.duration * 3 + 30
            if all_sent and outage_done and len(answered & set(reports)) >= len(reports):
                break
            if all_sent and now - started > opts.duration + opts.outage + opts.settle_timeout:
                write("\nstopped waiting: some frames were not answered in time")
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        interrupted = True
        write("\ninterrupted: stopping everything and reporting what was seen")
    finally:
        if opts.live and sys.stdout.isatty():
            sys.stdout.write("\n")
        field_state = gateway.field.state() if gateway is not None else None
        with quiet_logs(logging.ERROR):
            stack_snapshot = observer.snapshot() if observer is not None else ({}, [])
            stack.close()
        if opts.broker and not opts.keep and secure is None:
            write(clean_external(opts, BrokerSettings(opts.broker)))
    reports, seen = stack_snapshot
    if opts.dump is not None:
        dump_frames(opts.dump, reports, seen, ledger)
    if not reports:
        write("no reports were seen; nothing to report")
        return None
    sent = []
    for key, at in reports.items():
        t = ledger.get(key)
        if t is not None:
            sent.append(SentFrame(key[0], key[1], key[2], t.label, at))
    offline = offline_cascade(wl)
    hits = [offline.labels[t.index] == t.label for key in reports if (t := ledger.get(key))]
    offline_acc = sum(hits) / len(hits) if hits else None
    per_frame = cloud_only_cost_per_frame(sample_frame) if sample_frame is not None else 2.0
    report = summarize(
        sent, seen,
        cloud_cost_per_frame_alone=per_frame,
        outage=outage_window,
        spooled_peak=spool_peak,
        drain_seconds=drain_seconds,
        offline_cascade_accuracy=offline_acc,
    )
    report = replace(report, monitoring=monitoring_summary(
        field_state, report.accuracy_first_answer, report.frames_answered, drift_applied))
    if interrupted:
        report = replace(report, interrupted=True)
        report.notes.append("run interrupted with Ctrl-C: figures cover what was seen")
    text = render_text(report)
    write(text)
    write_outputs(report, text, reports, seen, opts.out, offline, samples=samples,
                  outage=outage_window, params=run_parameters(opts, site_kind, cloud_kind, wl),
                  ledger=ledger, split=wl.load_split("test"))
    write(f"report: {opts.out / 'report.json'}  plot: {opts.out / 'report.html'}")
    return report
