"""The field monitor's shell: reports, results and audits in; metrics, JSON state, logs out.

Thin around the pure cores :mod:`.accuracy` (live accuracy) and :mod:`.drift` (alarms).
It takes its collaborators as arguments (the metrics, a clock), holds one lock, and is
fed by three hooks of the gateway:

* :meth:`FieldMonitor.on_report` for every admitted report: the drift windows, the
  device's calibrated confidence for its answer, the last time the device was heard;
* :meth:`FieldMonitor.on_result` for every published final answer: the live-accuracy
  answers window (cache hits and degraded answers are not a tier's judgement);
* :meth:`FieldMonitor.audited` / :meth:`audit_dropped` for the edge model's audit of a
  confident device answer (the answer already given stands; the audit only measures).

The reference (calibration histograms, agreement, calibration error) is the thresholds
file's ``monitoring`` table (``edgecascade models calibrate`` writes it); without one,
the monitor still counts audits and agreement but raises no drift alarm.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgecascade.models.calibration import PROB_FLOOR
from edgecascade.models.fusion import WIRE_SCALE
from edgecascade.protocol import Report, Result
from edgecascade.protocol.audit import audit_pick, share_to_wire

from .accuracy import AccuracyConfig, LiveAccuracy
from .audit_store import AuditStore
from .config_sections import MonitoringConfig
from .drift import SITE, AlarmChange, DriftConfig, DriftMonitor, Monitoring

log = logging.getLogger("edgecascade.gateway.monitoring")

PAIR = "device~edge"
CLOUD_PAIR = "edge~cloud"
#: Device answers whose calibrated confidence waits for their result (bounded).
PENDING_MAX = 4096


class MetricsSink(Protocol):
    def inc(self, name: str, n: float = 1.0, **labels: str) -> None: ...

    def set(self, name: str, value: float) -> None: ...


@dataclass(frozen=True)
class MonitorReference:
    """What the monitor compares the field with, read from a thresholds file."""

    monitoring: Monitoring
    calibration_error: Mapping[str, float] = field(default_factory=dict)
    classes: int = 0
    device_temperature: float = 1.0
    path: str = ""

    @classmethod
    def load(cls, path: str | Path) -> MonitorReference:
        """The ``monitoring`` table of a thresholds file (empty when it has none)."""
        doc = json.loads(Path(path).read_text())
        mon = dict(doc.get("monitoring", {}))
        return cls(Monitoring.from_json(mon),
                   {str(k): float(v) for k, v in dict(mon.get("calibration_error", {})).items()},
                   int(mon.get("classes", 0)),
                   float(dict(doc.get("temperatures", {})).get("mcu", 1.0)), str(path))


def device_confidence(report: Report, ref: MonitorReference) -> float:
    """The device answer's calibrated top-1 confidence: the report's top-k as the gateway
    sees it (the rest spread evenly: :func:`edgecascade.models.fusion.report_probs`),
    scaled by the device tier's temperature (``apply_temperature``), in closed form:
    ``p1^(1/T) / (sum_topk p^(1/T) + (C - k) * rest^(1/T))``, each p floored at
    :data:`~edgecascade.models.calibration.PROB_FLOOR` (a few microseconds a report)."""
    n = max(ref.classes, max(report.classes) + 1, len(report.classes))
    top = [c / WIRE_SCALE for c in report.confidences]
    k = len(top)
    rest = max(1.0 - sum(top), 0.0) / max(n - k, 1)
    inv = 1.0 / ref.device_temperature
    powered = [max(p, PROB_FLOOR) ** inv for p in top]
    total = sum(powered) + (n - k) * max(rest, PROB_FLOOR) ** inv
    return powered[0] / total if total > 0 else 0.0


class FieldMonitor:
    def __init__(self, cfg: MonitoringConfig, reference: MonitorReference | None,
                 metrics: MetricsSink, clock: Callable[[], float] = time.monotonic,
                 budget_window_s: float = 3600.0) -> None:
        self.cfg = cfg
        self.budget_window_s = budget_window_s
        self.ref = reference
        self.metrics = metrics
        self.clock = clock
        mon = reference.monitoring if reference is not None else Monitoring()
        self.accuracy = LiveAccuracy(AccuracyConfig(
            window=cfg.window,
            systematic=dict(reference.calibration_error) if reference is not None else {}))
        self.drift = DriftMonitor(mon, DriftConfig(
            window=cfg.drift_window, psi_alarm=cfg.psi_alarm, psi_clear=cfg.psi_clear,
            agreement_tolerance=cfg.agreement_tolerance))
        self._lock = threading.Lock()
        self._pending: OrderedDict[tuple[str, int, int], float] = OrderedDict()
        self._heard: dict[str, float] = {}
        self._configured: set[str] = set()  # devices sent the audit config this run
        self.store: AuditStore | None = None  # the audit sample for --from-audit
        # cloud audits in flight: key -> (edge label, model version); billed messages spent
        # on them in the current budget window (since window_start)
        self._cloud_pending: dict[tuple[str, int, int], tuple[int, int]] = {}
        self._cloud_spent = 0.0
        self._window_start = clock()
        self._share = share_to_wire(cfg.audit_share)
        self._logged: dict[tuple[str, str], float] = {}
        self.alarm_log: list[dict[str, Any]] = []  # every change, for the JSON state (bounded)
        self.audit_counts: dict[str, int] = {"agree": 0, "disagree": 0, "dropped": 0,
                                             "error": 0}
        self.cloud_audits: dict[str, int] = {"agree": 0, "disagree": 0, "dropped": 0,
                                             "error": 0}

    # -- hooks ---------------------------------------------------------------------------
    def attach_store(self, store: AuditStore | None) -> None:
        """Keep the frames of the audit sample (:mod:`.audit_store`) from now on; cloud
        audits still in flight from before a restart are known again."""
        self.store = store
        if store is not None:
            with self._lock:
                self._cloud_pending.update(store.pending())

    # -- cloud audits (the edge's accepted answers, a budgeted share) -----------------------
    def cloud_audit_allowed(self, cost_estimate: float) -> bool:
        """Within ``audit_cloud_messages`` for the current budget window?"""
        with self._lock:
            now = self.clock()
            if now - self._window_start >= self.budget_window_s:
                self._window_start, self._cloud_spent = now, 0.0
            return self._cloud_spent + cost_estimate <= self.cfg.audit_cloud_messages

    def cloud_audit_sent(self, report: Report, edge_label: int) -> None:
        """Remember an audit before its frame can reach the cloud (a fast reply finds it)."""
        key = report.key
        with self._lock:
            self._cloud_pending[key] = (edge_label, report.model_version)
            while len(self._cloud_pending) > PENDING_MAX:  # evicted from the spool meanwhile
                self._cloud_pending.pop(next(iter(self._cloud_pending)))
        if self.store is not None:
            self.store.add_pending(key, edge_label, report.model_version)

    def cloud_audit_unsent(self, key: tuple[str, int, int], why: str) -> None:
        with self._lock:
            self._cloud_pending.pop(key, None)
        if self.store is not None:
            self.store.drop_pending(key)
        self.metrics.inc("audits", pair=CLOUD_PAIR, outcome="dropped")
        self._bump("dropped")

    def take_cloud_audit(self, key: tuple[str, int, int], label: int | None,
                         cost: float) -> bool:
        """A cloud reply: True when it answered an audit (consumed here, never the core's)."""
        with self._lock:
            pending = self._cloud_pending.pop(key, None)
            if pending is None:
                return False
            self._cloud_spent += cost
        if self.store is not None:
            self.store.drop_pending(key)
        self.metrics.inc("audit_cloud_cost", cost)
        if label is None:
            self.metrics.inc("audits", pair=CLOUD_PAIR, outcome="error")
            self._bump("error")
            return True
        edge_label, version = pending
        agree = label == edge_label
        self.metrics.inc("audits", pair=CLOUD_PAIR, outcome="agree" if agree else "disagree")
        with self._lock:
            self.accuracy.audited(key[0], version, CLOUD_PAIR, agree)
            self.cloud_audits[("agree" if agree else "disagree")] += 1
        return True

    def _bump(self, outcome: str) -> None:
        with self._lock:
            self.cloud_audits[outcome] += 1

    def on_report(self, report: Report) -> None:
        if (self.store is not None and report.frame is not None and self._share
                and audit_pick(report.device_id, report.epoch, report.seq, self._share)):
            self.store.add(report, self._share)  # its own lock; a refused write is counted
        conf = device_confidence(report, self.ref) if self.ref is not None else \
            report.confidence
        with self._lock:
            self._heard[report.device_id] = self.clock()
            self._pending[report.key] = conf
            while len(self._pending) > PENDING_MAX:
                self._pending.popitem(last=False)
            changes = self.drift.observe(report.device_id, report.confidence, report.complexity)
            self._alarms(changes)

    def on_result(self, result: Result) -> None:
        if result.revision != 0:
            return
        with self._lock:
            conf = self._pending.pop(result.key, None)
            if result.degraded or result.stale:
                kind = "degraded"
            elif result.tier in ("device", "edge", "cloud"):
                kind = result.tier
            else:
                kind = "cache"
            confidence = conf if kind == "device" and conf is not None else result.confidence
            self.accuracy.answered(result.device_id, result.model_version, kind, confidence)

    def audited(self, report: Report, edge_label: int | None) -> None:
        """The edge model's answer to an audited frame (None: it failed)."""
        if edge_label is None:
            self._count("error")
            return
        agree = edge_label == report.top1
        self._count("agree" if agree else "disagree")
        with self._lock:
            self.accuracy.audited(report.device_id, report.model_version, PAIR, agree)
            for scope, view in ((report.device_id, self.accuracy.device(report.device_id)),
                                (SITE, self.accuracy.site())):
                iv = view.agreement.get(PAIR)
                if iv is not None and iv.n:
                    self._alarms(self.drift.agreement(scope, PAIR, round(iv.estimate * iv.n),
                                                      iv.n, iv.hi))

    def audit_dropped(self) -> None:
        self._count("dropped")

    def _count(self, outcome: str) -> None:
        self.metrics.inc("audits", pair=PAIR, outcome=outcome)
        with self._lock:
            self.audit_counts[outcome] += 1

    def first_config(self, device_id: str) -> bool:
        """True the first time a device is named: it gets the audit config once."""
        with self._lock:
            if device_id in self._configured:
                return False
            self._configured.add(device_id)
            return True

    # -- alarms --------------------------------------------------------------------------
    def _alarms(self, changes: list[AlarmChange]) -> None:
        now = self.clock()
        for ch in changes:
            scope = "site" if ch.scope == SITE else ch.scope
            entry = {"scope": scope, "kind": ch.kind, "firing": ch.firing,
                     "value": round(ch.value, 4), "at_report": ch.at,
                     "ts_ms": int(time.time() * 1000)}
            self.alarm_log = [*self.alarm_log[-99:], entry]
            if ch.firing:
                self.metrics.inc("drift_alarms", scope="site" if ch.scope == SITE else "device",
                                 kind=ch.kind)
            key = (scope, ch.kind)
            last = self._logged.get(key)
            if last is None or now - last >= self.cfg.log_interval_s:
                self._logged[key] = now
                (log.warning if ch.firing else log.info)(
                    "drift alarm " + ("raised" if ch.firing else "cleared"),
                    extra={"scope": scope, "kind": ch.kind, "value": round(ch.value, 4),
                           "at_report": ch.at})

    # -- views ---------------------------------------------------------------------------
    def silent(self) -> list[str]:
        now = self.clock()
        with self._lock:
            return sorted(d for d, t in self._heard.items()
                          if now - t >= self.cfg.silent_after_s)

    def publish_gauges(self) -> None:
        """The site's numbers as gauges (called with the metrics summary's interval)."""
        silent = self.silent()
        with self._lock:
            site = self.accuracy.site()
            firing = self.drift.firing()
        est = site.estimate
        # no NaN on the wire (the retained Metrics message carries finite floats): the
        # estimate's gauges move once there are answers, ``live_accuracy_answers`` says
        # how many
        self.metrics.set("live_accuracy_answers", float(est.n))
        if est.n and math.isfinite(est.estimate):
            self.metrics.set("live_accuracy", est.estimate)
            self.metrics.set("live_accuracy_low", est.lo)
            self.metrics.set("live_accuracy_high", est.hi)
        ag = site.agreement.get(PAIR)
        self.metrics.set("audits_in_window", float(ag.n) if ag is not None else 0.0)
        if ag is not None and ag.n:
            self.metrics.set("audit_agreement", ag.estimate)
        self.metrics.set("drift_firing", float(len(firing)))
        self.metrics.set("drift_site_firing", float(any(s == "site" for s, _ in firing)))
        self.metrics.set("devices_silent", float(len(silent)))

    def state(self) -> dict[str, Any]:
        """The JSON state (``/monitoring``, ``edgecascade status``, the gateway entity)."""
        silent = self.silent()
        with self._lock:
            site = self.accuracy.site()
            return {
                "live_accuracy": _clean(site.to_json()),
                "devices": {d: _clean(self.accuracy.device(d).to_json())
                            for d in self.accuracy.devices()},
                "drift": self.drift.state(),
                "firing": [{"scope": s, "kind": k} for s, k in self.drift.firing()],
                # the estimate assumes the calibration split's distribution
                "estimate_valid": not self.drift.firing(),
                "alarms": list(self.alarm_log),
                "silent_devices": silent,
                "audits": dict(self.audit_counts),
                "cloud_audits": {**self.cloud_audits, "in_flight": len(self._cloud_pending),
                                 "billed_messages_this_window": round(self._cloud_spent, 3),
                                 "budget_messages": self.cfg.audit_cloud_messages},
                "audit_share": self.cfg.audit_share,
                "reference": self.ref.path if self.ref is not None else None,
            }


def _clean(doc: Any) -> Any:
    """NaN -> None, so the state is strict JSON."""
    if isinstance(doc, dict):
        return {k: _clean(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_clean(v) for v in doc]
    if isinstance(doc, float) and not np.isfinite(doc):
        return None
    return doc


def load_reference(cfg: MonitoringConfig) -> MonitorReference | None:
    """The reference the config names, else ``models/thresholds.json``; None (logged)
    when there is none."""
    from edgecascade.models.cascade import DEFAULT_THRESHOLDS

    path = Path(cfg.reference) if cfg.reference else DEFAULT_THRESHOLDS
    try:
        ref = MonitorReference.load(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("no monitoring reference: live accuracy from audits only, no drift "
                    "alarms", extra={"path": str(path), "why": str(exc)[:200]})
        return None
    if ref.monitoring.confidence is None:
        log.warning("thresholds file has no monitoring table (rerun `edgecascade models "
                    "calibrate`): no drift alarms", extra={"path": str(path)})
    return ref
