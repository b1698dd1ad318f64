"""Gateway metrics: Prometheus series plus a plain snapshot for the retained summary.

One :class:`GatewayMetrics` per gateway, on its own registry, so several gateways can
live in one process (tests, the demo). Every counter is also kept as a plain number
(``value(name, **labels)``) which tests read.

**One naming style.** The retained ``Metrics`` message, its JSON view, the golden
vector and ``/metrics`` all use the same Prometheus sample names:
``ec_gateway_<name>_total{label="value",...}`` for counters (labels sorted, values
quoted as in the exposition format) and ``ec_gateway_<name>`` for gauges.
:func:`sample_key` builds them; ``summary()`` reads them from the registry itself, so
the topic can never name a series Prometheus does not have. Units are in
:data:`UNITS` (and PROTOCOL.md, generated from it).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from edgecascade.gateway.breaker import STATE_VALUE
from edgecascade.protocol.limits import MAX_METRICS

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

#: Counters: name -> (help, label names).
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reports": ("Device reports received", ()),
    "rejected": ("Reports rejected, by reason", ("reason",)),
    "duplicates": ("Duplicate reports answered once", ()),
    "decisions": ("Policy decisions by action and reason", ("action", "reason")),
    "results": ("Results published, by tier and reason", ("tier", "reason")),
    "corrections": ("Cloud corrections published", ()),
    "degraded": ("Results flagged degraded or stale", ("kind",)),
    "cache_hits": ("Last-good cache hits", ("kind",)),
    "cloud_requests": ("Cloud requests sent", ()),
    "cloud_items": ("Frames sent to the cloud", ()),
    "cloud_responses": ("Cloud responses received, by status", ("status",)),
    "cloud_timeouts": ("Cloud requests that timed out", ()),
    "cloud_cost": ("AWS IoT billed messages spent (requests + responses)", ()),
    "privacy_blocked": ("Private frames refused at the cloud boundary", ()),
    "spool_dropped": ("Spooled frames dropped, by reason", ("reason",)),
    "edge_errors": ("Edge model failures", ()),
    "edge_model_swaps": ("Edge model swaps at run time, by outcome (ok; refused: the "
                         "running model kept)", ("outcome",)),
    "publish_failed": ("Result publishes the client refused (retried from the ledger)", ()),
    "storage_errors": ("Writes the state disk refused (each a frame's ledger entry, spooled "
                       "escalation or cache entry not kept on disk), by store and reason",
                       ("store", "reason")),
    "claimcheck_errors": ("Claim-check puts that failed, by kind (transient: retried)",
                          ("kind",)),
    "site_sessions_lost": ("Site broker connections that found the gateway's persistent "
                           "session gone (reports queued for it may be lost upstream)", ()),
    "identity_takeovers": ("Connections the site broker closed because the same identity "
                           "connected again (a second holder of a credential, or a reconnect "
                           "before the broker saw the old connection die), by role",
                           ("role",)),
    "audits": ("Audits of confident device answers by the edge model (measured only: the answer "
               "given stands), by pair and outcome: agree, disagree, dropped (edge queue "
               "busy or no edge model), error", ("pair", "outcome")),
    "audit_cloud_cost": ("AWS IoT billed messages spent on cloud audits (their own cost "
                         "line; cloud_cost includes them too)", ()),
    "drift_alarms": ("Drift alarms raised, by scope (device or site) and kind (confidence, "
                     "complexity, agreement)", ("scope", "kind")),
}
GAUGES: dict[str, str] = {
    "edge_queue_depth": "Edge batcher queue depth",
    "cloud_in_flight": "Cloud requests awaiting an answer",
    "circuit_state": "Cloud circuit breaker (0 closed, 1 half-open, 2 open)",
    "spool_depth": "Frames in the store-and-forward spool",
    "spool_bytes": "Accounted bytes in the spool",
    "pending_frames": "Frames waiting for a cloud answer",
    "budget_spent": "Billed cloud messages in the current budget window",
    "storage_degraded": "1 while a store cannot write to the state disk (full or failing)",
    "ledger_memory_frames": "Frames recorded in memory only because the disk refused them",
    "site_session_present": "1 when the site broker kept the gateway's session at the last "
                            "connect",
    "live_accuracy": "Label-free estimate of the cascade's accuracy on this site's recent "
                     "answers (audit agreement + calibrated confidence; 0 until "
                     "live_accuracy_answers > 0)",
    "live_accuracy_answers": "Answers in the live accuracy's window",
    "live_accuracy_low": "Lower end of the live accuracy's 95% interval",
    "live_accuracy_high": "Upper end of the live accuracy's 95% interval",
    "audit_agreement": "Share of audited confident device answers the edge model agreed with "
                       "(sliding window; 0 until audits_in_window > 0)",
    "audits_in_window": "Audits in the agreement's sliding window",
    "drift_firing": "Drift alarms firing now (devices and site, every kind)",
    "drift_site_firing": "1 while a site-wide drift alarm fires",
    "devices_silent": "Devices seen before that sent no report for monitoring.silent_after_s",
    "budget_messages": "Billed cloud messages allowed per budget window (0: no budget set)",
}


#: Unit of each counter and gauge (PROTOCOL.md's metrics table is generated from this).
UNITS: dict[str, str] = {
    "cloud_cost": "billed messages (AWS IoT Core: one per started 5 KB, both directions)",
    "budget_spent": "billed messages",
    "budget_messages": "billed messages",
    "audit_cloud_cost": "billed messages",
    "spool_bytes": "bytes",
    "circuit_state": "enum: " + ", ".join(f"{v} {s.value}" for s, v in
                                          sorted(STATE_VALUE.items(), key=lambda i: i[1])),
    "storage_degraded": "0 or 1",
    "site_session_present": "0 or 1",
    "live_accuracy": "fraction 0..1",
    "live_accuracy_low": "fraction 0..1",
    "live_accuracy_high": "fraction 0..1",
    "audit_agreement": "fraction 0..1",
    "drift_site_firing": "0 or 1",
}
HISTOGRAMS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "latency_seconds": ("Report receipt to result publish, by tier", "seconds", ("tier",)),
    "edge_batch_size": ("Edge batch sizes", "frames", ()),
}
PREFIX = "ec_gateway_"
#: The info metric naming what runs the edge model (models/runners BackendInfo), e.g.
#: ec_gateway_edge_backend_info{backend="onnxruntime",device="...",fallback="true",
#: precision="fp32",provider="cpu"} 1. Labels sorted, as the summary writes them.
BACKEND_INFO = "edge_backend_info"
BACKEND_DOC = ("What runs the edge model: backend (litert, onnxruntime, torch), provider "
               "(xnnpack, cpu, cuda, tensorrt), device, precision, and whether a GPU asked "
               "for fell back to the CPU")
BACKEND_LABELS = ("backend", "device", "fallback", "precision", "provider")


def sample_key(sample: str, labels: dict[str, str]) -> str:
    """``name{a="x",b="y"}``: a Prometheus sample as the metrics topic names it."""
    if not labels:
        return sample
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{sample}{{{inner}}}"


def counter_sample(name: str) -> str:
    return f"{PREFIX}{name}_total"


def gauge_sample(name: str) -> str:
    return f"{PREFIX}{name}"


def unit_of(name: str) -> str:
    return UNITS.get(name, "count")


def _key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._plain: dict[str, float] = defaultdict(float)
        self._counters = {
            name: Counter(f"{PREFIX}{name}", doc, labels, registry=self.registry)
            for name, (doc, labels) in COUNTERS.items()
        }
        self._gauges = {name: Gauge(gauge_sample(name), doc, registry=self.registry)
                        for name, doc in GAUGES.items()}
        doc, _, labels = HISTOGRAMS["latency_seconds"]
        self.latency = Histogram(f"{PREFIX}latency_seconds", doc, labels,
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        doc, _, labels = HISTOGRAMS["edge_batch_size"]
        self.batch_size = Histogram(f"{PREFIX}edge_batch_size", doc, labels,
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self._bound: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[Any, str]] = {}
        self._tiers: dict[str, Any] = {}
        self._backend = Gauge(f"{PREFIX}{BACKEND_INFO}", BACKEND_DOC, BACKEND_LABELS,
                              registry=self.registry)

    def set_backend(self, info: dict[str, Any]) -> None:
        """What runs the edge model (one series, value 1; replaced on a model swap)."""
        self._backend.clear()
        self._backend.labels(**{k: str(info[k]).lower() if k == "fallback" else str(info[k])
                                for k in BACKEND_LABELS}).set(1)

    def inc(self, name: str, n: float = 1.0, **labels: str) -> None:
        bound = (name, tuple(labels.items()))  # label children are bound once, then reused
        child = self._bound.get(bound)
        if child is None:
            c = self._counters[name]
            child = self._bound[bound] = (c.labels(**labels) if labels else c,
                                          _key(name, labels))
        child[0].inc(n)
        with self._lock:
            self._plain[child[1]] += n
            if labels:
                self._plain[name] += n

    def set(self, name: str, value: float) -> None:
        self._gauges[name].set(value)
        with self._lock:
            self._plain[name] = float(value)

    def observe_latency(self, tier: str, seconds: float) -> None:
        child = self._tiers.get(tier)
        if child is None:
            child = self._tiers[tier] = self.latency.labels(tier=tier)
        child.observe(seconds)

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._plain.get(_key(name, labels), 0.0)

    def summary(self) -> dict[str, float]:
        """Every counter and gauge sample, Prometheus-named, for the retained Metrics
        message (bounded: <= MAX_METRICS entries; histograms stay on ``/metrics`` except their
        ``_count`` and ``_sum``, from which a dashboard gets a mean)."""
        out: dict[str, float] = {}
        for family in self.registry.collect():
            if family.name == f"{PREFIX}{BACKEND_INFO}":  # labels, no number: page_summary
                continue
            for s in family.samples:
                if family.type == "histogram" and not s.name.endswith(("_count", "_sum")):
                    continue
                if s.name.endswith("_created"):
                    continue
                out[sample_key(s.name, dict(s.labels))] = float(s.value)
        return dict(sorted(out.items())[:MAX_METRICS])

    def page_summary(self) -> dict[str, float]:
        """:meth:`summary` and the edge backend's info sample, for the gateway's own
        page (its key, with a device name in it, may exceed the Metrics message's
        128-character keys; Prometheus and ``edgecascade status`` read it on /metrics)."""
        out = self.summary()
        for family in self._backend.collect():
            for s in family.samples:
                out[sample_key(s.name, dict(s.labels))] = float(s.value)
        return out
