"""The fault-injection rig: real brokers, real gateway and worker processes, a device
fleet, a neutral observer, and an accountant for every frame the devices made.

Layout, as in production::

    devices (in-process fleet) -> site broker <- gateway process -> WAN link -> cloud broker
                                    ^ observer (persistent session)        worker processes ^

Accounting rule (what every fault test asserts): each frame a device made gets
exactly one final answer (revision 0; plus any corrections), or is accounted for
by a counted drop (the device's ring buffer). An identical copy of a final answer
redelivered after a crash is QoS 1 at-least-once delivery and is counted apart;
two *different* final answers for one frame are never allowed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from edgecascade.emulator.fleet import Fleet
from edgecascade.emulator.ledger import GroundTruth
from edgecascade.emulator.model import device_thresholds
from edgecascade.models.cascade import DEFAULT_THRESHOLDS
from edgecascade.models.registry import load_registry
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import Topics, encode
from edgecascade.tools.broker import MosquittoBroker, free_port
from edgecascade.tools.demo.observer import Observer
from edgecascade.tools.demo.wanlink import WanLink

Key = tuple[str, int, int]
REGISTRY = load_registry()


@dataclass
class Accounting:
    made: int
    answered: int
    missing: list[Key]
    conflicting: list[Key]  # two different revision-0 answers: never allowed
    redelivered: int  # identical copies of a final answer (QoS 1 after a crash)
    corrections: int
    device_drops: int
    degraded: int

    @property
    def unaccounted(self) -> int:
        return max(0, len(self.missing) - self.device_drops) + len(self.conflicting)

    def describe(self) -> str:
        return (f"made {self.made}, answered {self.answered}, missing {len(self.missing)} "
                f"{self.missing[:5]}, conflicting {len(self.conflicting)} "
                f"{self.conflicting[:5]}, redelivered {self.redelivered}, corrections "
                f"{self.corrections}, device drops {self.device_drops}, degraded "
                f"{self.degraded}")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def gateway_metrics(http_port: int) -> dict[str, float]:
    """A gateway's Prometheus samples from /metrics: each name summed over its labels, and
    ``name{label=value}`` summed over the other labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] += sample.value
            for label, value in sample.labels.items():
                out[f"{sample.name}{{{label}={value}}}"] += sample.value
    return out


def gateway_ready(proc: subprocess.Popen[bytes], http_port: int,
                  log_tail: Callable[[], str]) -> bool:
    """The gateway process is alive (else fail with its log) and its /readyz says 200."""
    assert proc.poll() is None, f"gateway exited: {log_tail()}"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@dataclass
class Rig:
    tmp: Path
    make_broker: Callable[..., MosquittoBroker]
    topics: Topics
    wan_delay_ms: float = 0.0
    deadline_ms: int = 1500
    workers: int = 1
    allowlist: tuple[str, ...] = ()
    state_dir: Path | None = None
    spool_max_bytes: int = 64 * 1024 * 1024
    escalate_all: bool = False  # every frame leaves the device and goes to the cloud
    lift_rate_limits: bool = True  # False: the gateway's shipped trust defaults
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    fleets: list[Fleet] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.site = self.make_broker(name="site")
        self.cloud = self.make_broker(name="cloud")
        self.wan = WanLink(self.cloud.host, self.cloud.port, delay_ms=self.wan_delay_ms).start()
        self.ledger = GroundTruth()
        self.http_port = free_port()
        self.state = self.state_dir or self.tmp / "gateway-state"
        self.observer = Observer(BrokerSettings(self.site.url), self.topics,
                                 persistent=True).start()
        self.thresholds = DEFAULT_THRESHOLDS
        if self.escalate_all:
            doc = json.loads(DEFAULT_THRESHOLDS.read_text())
            doc["thresholds"].update(device_conf=1.0, edge_conf=1.0)
            self.thresholds = self.tmp / "thresholds-escalate-all.json"
            self.thresholds.write_text(json.dumps(doc))

    # -- processes --------------------------------------------------------------------
    def _log(self, name: str) -> Any:
        return (self.tmp / f"{name}.log").open("ab")

    def gateway_config(self) -> Path:
        path = self.tmp / "gateway.toml"
        allow = ", ".join(f'"{d}"' for d in self.allowlist)
        limits = "rate_per_s = 1e9\nburst = 1e9\n" if self.lift_rate_limits else ""
        path.write_text(f"""
version = 1
gateway_id = "gw-faults"
prefix = "{self.topics.prefix}"
thresholds_file = "{self.thresholds}"
metrics_interval_s = 0.5
[broker]
url = "{self.site.url}"
keepalive = 5
[cloud_broker]
url = "{self.wan.url}"
keepalive = 5
[edge]
model = "{REGISTRY.for_tier('edge').path}"
[cloud]
deadline_ms = {self.deadline_ms}
breaker_failures = 3
breaker_reset_s = 1.0
retry_s = 0.5
[storage]
state_dir = "{self.state}"
spool_max_bytes = {self.spool_max_bytes}
[http]
port = {self.http_port}
[devices]  # the load is bursty: the per-device rate limit is lifted (tests/security tests it)
allowlist = [{allow}]
{limits}""")
        return path

    def start_gateway(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgecascade.gateway", "--config", str(self.gateway_config())],
            stdout=subprocess.DEVNULL, stderr=self._log("gateway"))
        self.procs["gateway"] = proc
        wait_until(lambda: self._ready(proc), 90, "gateway /readyz")

    def _ready(self, proc: subprocess.Popen[bytes]) -> bool:
        return gateway_ready(proc, self.http_port, lambda: self.log_tail("gateway"))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        proc.wait(60)

    def start_worker(self, index: int) -> None:
        name = f"worker{index}"
        config = self.tmp / f"{name}.toml"
        config.write_text(f"""
version = 1
worker_id = "wk-{index}"
prefix = "{self.topics.prefix}"
shared_group = "ec-workers"
[broker]
url = "{self.cloud.url}"
keepalive = 5
[model]
path = "{REGISTRY.for_tier('cloud').path}"
[http]
enabled = false
""")
        proc = subprocess.Popen([sys.executable, "-m", "edgecascade.cli", "cloud-worker",
                                 "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=self._log(name))
        self.procs[name] = proc
        online = self.topics.worker_state(f"wk-{index}")
        from tests.support import Collector

        watcher = Collector(self.cloud.host, self.cloud.port, [online])
        try:
            from edgecascade.protocol import ServiceState, decode

            def up() -> bool:
                assert proc.poll() is None, f"worker exited: {self.log_tail(name)}"
                return any(decode(ServiceState, m.payload).online for m in watcher.messages)

            wait_until(up, 90, f"{name} online")
        finally:
            watcher.close()

    def start(self) -> Rig:
        for i in range(self.workers):
            self.start_worker(i)
        self.start_gateway()
        return self

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.tmp / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- devices ----------------------------------------------------------------------
    def devices(self, count: int, rate: float, reports: int, prefix: str = "dev") -> Fleet:
        fleet = Fleet(BrokerSettings(self.site.url), self.topics, count, rate,
                      id_prefix=prefix, reports=reports, ledger=self.ledger,
                      state_file=self.tmp / f"{prefix}-state.json",
                      thresholds=device_thresholds(self.thresholds))
        self.fleets.append(fleet)
        return fleet.start()

    def wait_sent(self, fleet: Fleet, timeout: float = 120) -> None:
        total = fleet.reports * len(fleet.devices) if fleet.reports else 0
        wait_until(lambda: fleet.stats.acked + fleet.stats.dropped >= total, timeout,
                   f"{total} reports acknowledged ({fleet.stats.summary()})")

    # -- observation --------------------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        """The gateway's Prometheus counters and gauges, summed over labels."""
        return gateway_metrics(self.http_port)

    def account(self) -> Accounting:
        _, seen = self.observer.snapshot()
        keys = [k for k, _ in self.ledger.items()]
        finals: dict[Key, set[bytes]] = defaultdict(set)
        copies: dict[Key, int] = defaultdict(int)
        corrections = degraded = 0
        for s in seen:
            r = s.result
            if r.revision == 0:
                finals[r.key].add(encode(r))
                copies[r.key] += 1
                degraded += int(r.degraded or r.stale)
            else:
                corrections += 1
        return Accounting(
            made=len(keys),
            answered=sum(1 for k in keys if finals.get(k)),
            missing=[k for k in keys if not finals.get(k)],
            conflicting=[k for k in keys if len(finals.get(k, ())) > 1],
            redelivered=sum(c - 1 for c in copies.values() if c > 1),
            corrections=corrections,
            device_drops=sum(f.stats.dropped for f in self.fleets),
            degraded=degraded,
        )

    def wait_all_answered(self, timeout: float = 90) -> Accounting:
        try:
            wait_until(lambda: not self.account().missing, timeout,
                       "every frame answered", poll=0.25)
        except AssertionError as exc:
            m = self.metrics() if "gateway" in self.procs else {}
            facts = {k: v for k, v in m.items() if k.startswith(
                ("ec_gateway_reports_total", "ec_gateway_results_total", "ec_gateway_rejected",
                 "ec_gateway_duplicates", "ec_gateway_publish_failed"))}
            fleets = "; ".join(f.stats.summary() for f in self.fleets)
            raise AssertionError(f"{exc}: {self.account().describe()}\n"
                                 f"gateway: {facts}\nfleets: {fleets}\n"
                                 f"{self.log_tail('gateway', 15)}") from None
        return self.account()

    def close(self) -> None:
        for fleet in self.fleets:
            fleet.stop(drain_timeout=5)
        for name in list(self.procs):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.observer.stop()
        self.wan.stop()
