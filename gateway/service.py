"""The gateway process: the I/O shell around the frame-lifecycle core, the stores and tiers.

    gw = Gateway(config).start()     # connects, recovers, subscribes; returns when ready
    ...
    gw.stop()                        # graceful: stop taking reports, finish what is in hand

:mod:`.core` (pure) decides a frame's life -- admission and dedupe, routing through
:mod:`.policy`, waiters and deadlines, corrections, the single final answer -- and returns
effects as values; this shell owns paho (:mod:`.site`), the threads, SQLite, the edge
batcher and the cloud client, reads what the core needs and executes the effects.

A report's path (one frame):

1. :mod:`.intake` (site network thread) decodes and validates it; a bad one is rejected,
   counted, logged and acked. A good one joins the group commit (:mod:`.committer`).
2. The core decides. A device-tier answer is stored with the frame in the ledger (one
   transaction for the batch), then published; anything else is stored as *pending*. Only
   then is the report acknowledged (manual PUBACK): a SIGKILL never loses an acked report.
3. Edge work goes through the dynamic batcher; cloud work through the spool and the
   cloud client (:mod:`.cloud_handoff`, cloud audits too). A frame waiting for the cloud
   gets its first final answer when the cloud answers or, at its deadline, a
   degraded/stale local answer; a later cloud answer is then published as a correction
   (revision + 1). Each frame has at most one revision-0 result and at most one cloud
   correction.

Locking: every core call, and the effects that touch the ledger, the cache and the site
(``Emit``, ``Remember``), run under ``_lock``, so a final and a correction of one frame can
never be reordered. Ledger admission (``Admit*``), the edge queue and the cloud client's
spool run outside it, as their results come back to the core as events.

When the state disk refuses writes (full or failing) the stores take their
storage-error path (:mod:`.db`): the gateway still answers and acknowledges every
report, the ledger records frames in memory, escalations that cannot be spooled are
counted drops, ``/readyz`` says the storage is degraded, and everything resumes by
itself when the disk takes writes again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt

from edgecascade.protocol import Report, Result, encode
from edgecascade.protocol.audit import share_to_wire
from edgecascade.protocol.claimcheck import FrameStore

from . import effects as fx
from .audit_store import FILE as AUDIT_FILE
from .audit_store import AuditStore
from .batcher import DynamicBatcher, batch_settings
from .breaker import BreakerState
from .cache import Answer, LastGoodCache, frame_hash
from .cloud_client import CloudClient, CloudOutcome
from .cloud_handoff import cloud_client_for, cloud_reply, hand_off, send_audit
from .config import GatewayConfig
from .core import FrameCore, needs_lookup
from .dashboards import Dashboards
from .db import StorageHealth
from .edge import EdgeModel
from .edge_tier import EdgeTier
from .effects import Arrival, Effect, FrameJob, Now, frame_id
from .frame_state import Key
from .frame_store import store_for
from .health import readiness
from .housekeeping import Housekeeper, recover
from .http import ObserveServer
from .intake import Intake
from .ledger import Admission, Ledger
from .metrics import GatewayMetrics
from .model_swap import EdgeSwapper, Stamped
from .model_versions import VersionThresholds
from .models_rollout import RolloutTracker
from .monitoring import FieldMonitor, load_reference
from .policy import Snapshot
from .sessions import report_digest
from .site import SiteLink, now_ms
from .spool import Spool as SpoolStore
from .trust import Trust, trust_for

log = logging.getLogger("edgecascade.gateway")

#: How long ``stop()`` lets frames waiting on the cloud finish before answering them locally.
STOP_GRACE_S = 2.0

__all__ = ["STOP_GRACE_S", "Gateway", "frame_id"]


def _now() -> Now:
    return Now(time.monotonic(), now_ms())


class Gateway:
    def __init__(self, config: GatewayConfig, *, edge_model: EdgeModel | None = None,
                 frame_store: FrameStore | None = None, trust: Trust | None = None) -> None:
        self.cfg = config
        self.topics = config.topics
        self.metrics = GatewayMetrics()
        self.trust = trust if trust is not None else trust_for(config.devices)
        self.model_thresholds = VersionThresholds(config.thresholds)
        self.rollout = RolloutTracker(config.rollout)  # the canary tally
        self.storage = StorageHealth(on_error=lambda store, reason: self.metrics.inc(
            "storage_errors", store=store, reason=reason))
        self.frame_store = frame_store or store_for(config.cloud)  # [cloud] frame_store
        self._edge_model = edge_model
        self._lock = threading.RLock()
        self.wake = threading.Condition(self._lock)
        self.core = FrameCore(fx.CoreConfig(
            gateway_id=config.gateway_id, cloud_deadline_ms=config.cloud.deadline_ms,
            stale_max_age_ms=int(config.storage.stale_max_age_s * 1000),
            cloud_enabled=config.cloud.enabled,
            fallback_order=config.thresholds.fallback_order,
            audit_edge=config.monitoring.audit_share > 0,
            audit_cloud_share=(share_to_wire(config.monitoring.audit_cloud_share)
                               if config.cloud.enabled else 0)))
        # audits, live accuracy, drift alarms (issue 22)
        self.field = FieldMonitor(config.monitoring, load_reference(config.monitoring),
                                  self.metrics, budget_window_s=config.cloud.budget_window_s)
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self._started = False
        self.spool: SpoolStore | None = None
        self.ledger: Ledger | None = None
        self.cache: LastGoodCache | None = None
        self.cloud: CloudClient | None = None
        self.batcher: DynamicBatcher[FrameJob, Stamped] | None = None
        self.http: ObserveServer | None = None
        self.edge: EdgeModel | None = None  # replaced whole by swap_edge_model
        self.edge_swapper = EdgeSwapper(self)
        self.link: SiteLink | None = None
        self._house = Housekeeper(self)
        self.intake = Intake(self)
        self.edge_tier = EdgeTier(self, config.fusion)
        self.dashboards = Dashboards.for_gateway(config, lambda: self.site,
                                                 self.metrics.page_summary)

    @property
    def site(self) -> mqtt.Client | None:
        return self.link.client if self.link else None

    # == life cycle =====================================================================
    def start(self, timeout: float = 30.0) -> Gateway:
        cfg = self.cfg
        state = Path(cfg.storage.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        health = self.storage
        self.ledger = Ledger(state / "ledger.sqlite", keep=cfg.storage.dedupe_keep,
                             memory_keep=cfg.storage.memory_keep, health=health)
        for device, epoch, top in self.ledger.tops():  # the sequence books survive a restart
            self.trust.seed(device, epoch, top, time.monotonic())
        self.cache = LastGoodCache(state / "cache.sqlite", cfg.storage.cache_entries,
                                   health=health)
        spool = self.spool = SpoolStore(state / "spool.sqlite", cfg.storage.spool_max_bytes,
                                   health=health)
        if cfg.monitoring.audit_share > 0 or cfg.monitoring.audit_cloud_share > 0:
            # the audit sample (models calibrate --from-audit), cloud audits in flight
            self.field.attach_store(AuditStore(state / AUDIT_FILE, on_error=lambda why: (
                self.metrics.inc("storage_errors", store="audit", reason=why))))
        self.edge = self._edge_model or self.edge_swapper.load_configured()  # then watched
        if self.edge is not None:
            info = getattr(self.edge, "info", None)  # an injected model may have none
            batch = batch_settings(cfg.edge.max_batch, cfg.edge.max_delay_ms,
                                   bool(info and info.on_gpu))
            self.batcher = DynamicBatcher(self.edge_tier.run, on_batch=self.edge_tier.on_batch,
                                          max_batch=batch.max_batch,
                                          max_delay_s=batch.max_delay_ms / 1000,
                                          capacity=cfg.edge.queue_size, name="gw-edge")
            self.batcher.start()
            if info is not None:
                self.metrics.set_backend(info.to_json())
                log.info("edge model %s v%s: %s (batches <= %d, wait <= %g ms)",
                         self.edge.model_id, self.edge.model_version, info.describe(),
                         batch.max_batch, batch.max_delay_ms)
        self.cloud = cloud_client_for(cfg, spool, self.metrics, self._on_cloud_answer,
                                      self.frame_store)  # None: [cloud] enabled = false
        if cfg.http.enabled:
            self.http = ObserveServer(cfg.http.host, cfg.http.port,
                                      self.metrics.registry, self.readiness,
                                      dashboards=self.dashboards, monitoring=self.field.state)
            self.http.start()
        self._house.recovered = recover(self)
        if self.cloud is not None:
            self.cloud.start()
        self.link = SiteLink(cfg, self.metrics, self.intake.on_message, self.intake.after_read,
                             self.stopping,
                             self.dashboards,
                             self.edge.model_id if self.edge else None)
        self.link.connect()
        self._house.start()
        self._started = True
        if self.cloud is not None and not self.cloud.wait_connected(min(timeout, 5.0)):
            log.warning("cloud broker not reachable yet; answering locally until it is")
        if not self.link.ready.wait(timeout):
            log.warning("site broker not ready yet; still trying",
                        extra={"broker": cfg.broker.url})
        log.info("gateway started" if self.link.ready.is_set() else
                 "gateway started, not ready: waiting for the site broker", extra={
            "gateway_id": cfg.gateway_id, "site": cfg.broker.url,
            "cloud": (cfg.cloud_broker or cfg.broker).url if cfg.cloud.enabled else None,
            "edge_model": self.edge.model_id if self.edge else None,
            "http_port": self.http.port if self.http else None})
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop: take no new reports, finish or spool what is in hand, go offline."""
        if not self._started or self.stopping.is_set():
            return
        self.stopping.set()
        self.intake.stop()  # the batch in hand is committed and acked; no more
        assert self.link is not None
        self.link.ready.clear()
        if self.batcher is not None:
            self.batcher.stop(timeout)
        grace = time.monotonic() + min(STOP_GRACE_S, timeout)
        with self._lock:
            while self.core.waiting and time.monotonic() < grace:
                self.wake.wait(0.05)
        # Their frames stay spooled: a correction follows when the cloud answers.
        self.step(lambda now: self.core.expire_all(now))
        if self.cloud is not None:
            self.cloud.stop()
        with self.wake:
            self.wake.notify_all()
        self._house.join(timeout)
        self.link.go_offline(self.ledger)
        if self.http is not None:
            self.http.stop()
        for store in (self.ledger, self.cache, self.spool):
            if store is not None:
                store.close()
        if self.field.store is not None:
            self.field.store.close()
            self.field.attach_store(None)
        self.stopped.set()
        log.info("gateway stopped", extra={"gateway_id": self.cfg.gateway_id})

    def readiness(self) -> tuple[bool, str]:
        """``/readyz`` (see :func:`.health.readiness`)."""
        return readiness(self.stopping.is_set(),
                         self.link is not None and self.link.ready.is_set(),
                         self.storage.degraded(),
                         self.link.session_lost() if self.link is not None else None)

    @property
    def ready(self) -> bool:
        return self.readiness()[0]

    @property
    def http_port(self) -> int | None:
        return self.http.port if self.http else None

    # == reports (validated by .intake) ================================================
    def arrival(self, report: Report, payload: bytes | None, received: float,
                received_ms: int, pixels: object) -> Arrival:
        """What the core needs to decide on a report, read from the stores."""
        assert self.cache is not None
        snap = self.snapshot(report)
        with self._lock:
            self.rollout.on_report(report)
        self.field.on_report(report)
        cached = last = None
        if needs_lookup(report, snap):
            assert report.frame is not None
            cached = self.cache.lookup(frame_hash(report.frame))
            last = self.cache.last(report.device_id)
        return Arrival(report, payload, received, received_ms, snap, pixels, cached, last)

    def admit(self, arrivals: Sequence[Arrival]) -> None:
        """Admit reports: the core decides, the ledger dedupes and stores them all in one
        transaction (group commit: :mod:`.committer` hands over what is waiting)."""
        assert self.ledger is not None
        built: dict[Key, tuple[Result, bytes]] = {}
        asks: list[fx.AdmitFinal | fx.AdmitPending] = []
        self.step(lambda now: self.core.arrive(now, arrivals), asks)
        digests = {a.report.key: report_digest(a.payload)  # a final's bytes: its digest
                   for a in arrivals if a.payload is not None}
        states = self.ledger.admit_batch([
            Admission(a.key, a.received_ms, result=self._final_bytes(a, built),
                      digest=digests.get(a.key))
            if isinstance(a, fx.AdmitFinal) else Admission(a.key, a.received_ms, a.payload)
            for a in asks])
        outcomes: list[fx.Admitted] = []
        for ask, existing in zip(asks, states, strict=True):
            made = built.get(ask.key) if existing is None else None
            outcomes.append(fx.Admitted(ask.key, existing, made[0] if made else None))
        if outcomes:
            self.step(lambda now: self.core.admitted(now, outcomes), built=built)

    def snapshot(self, report: Report) -> Snapshot:
        b = self.batcher
        return Snapshot(
            thresholds=self.model_thresholds.for_report(report),  # of the model that made it
            edge_available=b is not None,
            edge_queue_depth=b.depth if b else 0,
            edge_queue_capacity=b.capacity if b else 1,
            breaker=self.cloud.state() if self.cloud else BreakerState.OPEN,
            cloud_enabled=self.cloud is not None,
            spent=self.cloud.spent() if self.cloud else 0.0,
            budget=self.cfg.cloud.budget_messages,
            cloud_latency_ms=self.core.cloud_rtt_ms,
        )

    def last_answer(self, job: FrameJob) -> Answer | None:
        assert self.cache is not None
        return self.cache.last(job.report.device_id)

    # == effects =========================================================================
    def step(self, call: Callable[[Now], list[Effect]],
             asks: list[fx.AdmitFinal | fx.AdmitPending] | None = None,
             built: dict[Key, tuple[Result, bytes]] | None = None) -> None:
        """Call the core and carry out its effects (see *Locking* above)."""
        edge: list[FrameJob] = []
        spools: list[fx.Spool] = []
        audits: list[fx.AuditCloud] = []
        with self._lock:
            for effect in call(_now()):
                if isinstance(effect, (fx.AdmitFinal, fx.AdmitPending)):
                    assert asks is not None, "only admission asks the ledger"
                    asks.append(effect)
                elif isinstance(effect, fx.SubmitEdge):
                    edge.append(effect.job)
                elif isinstance(effect, fx.Spool):
                    spools.append(effect)
                elif isinstance(effect, fx.AuditCloud):
                    audits.append(effect)
                else:
                    self._execute(effect, built)
        if edge:
            self.edge_tier.submit(edge)  # one hand-off for the step's edge frames
        for spool in spools:
            self._spool_out(spool)
        for audit in audits:  # cloud audits of edge answers (.cloud_handoff)
            send_audit(audit, self.cloud, self.metrics, self.field,
                       lambda report: self.snapshot(report).cost_estimate)

    def _spool_out(self, effect: fx.Spool) -> None:
        assert self.cloud is not None
        unspooled = hand_off(self.cloud, self.metrics, effect)
        if effect.wait and unspooled is not None:
            self.step(lambda now: self.core.spooled(now, effect.key, unspooled))

    def _final_bytes(self, ask: fx.AdmitFinal,
                     built: dict[Key, tuple[Result, bytes]]) -> Callable[[], bytes]:
        def build() -> bytes:  # the ledger calls it once it knows the frame is new
            result = self.core.final_result(_now(), ask)  # no lock: the ledger holds its own
            data = encode(result)
            built[ask.key] = (result, data)
            return data
        return build

    def _execute(self, effect: Effect, built: dict[Key, tuple[Result, bytes]] | None) -> None:
        if isinstance(effect, fx.Emit):
            result = effect.result
            made = built.get(result.key) if built and not effect.record else None
            data = made[1] if made is not None and made[0] is result else encode(result)
            if effect.record:
                assert self.ledger is not None
                self.ledger.record(result.key, result.revision, data, effect.cloud_done)
            assert self.link is not None
            self.link.publish_result(result, data)
            self.field.on_result(result)
            decided = self.rollout.on_result(result)  # the canary rule: promote / roll back
            if decided is not None:
                self.link.publish_manifest(decided)
        elif isinstance(effect, fx.Remember):
            assert self.cache is not None
            self.cache.put_stream(effect.device_id, effect.answer)
            if effect.frame is not None:
                self.cache.put_content(frame_hash(effect.frame), effect.answer)
        elif isinstance(effect, fx.Count):
            self.metrics.inc(effect.metric, 1.0, **dict(effect.labels))
        elif isinstance(effect, fx.Gauge):
            self.metrics.set(effect.metric, effect.value)
        elif isinstance(effect, fx.Log):
            # per-frame lines (duplicates, late cloud answers): at most one per message and
            # interval, with how many were held back, like the rejections
            suppressed = self.trust.quiet.due(f"core:{effect.message}", time.monotonic())
            if suppressed is not None:
                log.info(effect.message, extra={**dict(effect.extra), "suppressed": suppressed})

    # == tiers ===========================================================================
    def swap_edge_model(self, path: str) -> bool:
        """Load and check ``path``, then switch to it; False keeps the running model."""
        return self.edge_swapper.swap(path)

    def _on_cloud_answer(self, out: CloudOutcome) -> None:
        reply = cloud_reply(out, self.field)
        if reply is None:
            return  # an audit of an answer already given: measured, never a correction
        with self.wake:
            state = None
            if reply.answer is not None and not self.core.is_waiting(reply.key):
                assert self.ledger is not None
                state = self.ledger.state(reply.key)
            self.step(lambda now: self.core.cloud_answer(now, reply, state))
            self.wake.notify_all()
