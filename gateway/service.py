"""The gateway process: the I/O shell around the policy, the stores and the tiers.

    gw = Gateway(config).start()     # connects, recovers, subscribes; returns when ready
    ...
    gw.stop()                        # graceful: stop taking reports, finish what is in hand

A report's path (one frame):

1. ``_on_message`` (site network thread) decodes and validates it; a bad report is
   rejected, counted by reason, logged and acknowledged (it can never be valid later).
2. The policy decides. A device-tier answer is stored with the frame in the ledger, then
   published; anything else is stored as *pending*. Only then is the report acknowledged
   (manual PUBACK), so a SIGKILL never loses an acknowledged report.
3. Edge work goes through the dynamic batcher; cloud work through the spool and the
   cloud client. A frame waiting for the cloud gets its first final answer when the cloud
   answers or, at its deadline, a degraded/stale local answer; a later cloud answer is
   then published as a correction (revision + 1). Each frame has at most one revision-0
   result and at most one cloud correction.

When the state disk refuses writes (full or failing) the stores take their
storage-error path (:mod:`.db`): the gateway still answers and acknowledges every
report, the ledger records frames in memory, escalations that cannot be spooled are
counted drops, ``/readyz`` says the storage is degraded, and everything resumes by
itself when the disk takes writes again.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

from edgecascade import __version__
from edgecascade.mqtt import connect_properties, make_client
from edgecascade.protocol import (
    DeviceConfig,
    DeviceState,
    Metrics,
    ProtocolError,
    Reason,
    Report,
    Result,
    ServiceState,
    Tier,
    TopicKind,
    decode,
    encode,
)
from edgecascade.protocol.claimcheck import FrameStore

from . import policy
from .answers import device_answer, make_result
from .batcher import DynamicBatcher
from .breaker import BreakerState
from .cache import Answer, LastGoodCache, frame_hash
from .cloud_client import CloudClient, CloudOutcome, PrivacyViolation
from .config import GatewayConfig
from .db import StorageHealth
from .edge import EdgeAnswer, EdgeModel, FrameRejected, TFLiteEdgeModel
from .fallback import measured_fallback  # hook (anymodel)
from .frame_store import store_from_config  # hook (anymodel)
from .http import ObserveServer
from .ledger import Key, Ledger, Status
from .metrics import GatewayMetrics
from .policy import Action, Decision, Snapshot
from .spool import Spool

log = logging.getLogger("edgecascade.gateway")

#: How long ``stop()`` lets frames waiting on the cloud finish before answering them locally.
STOP_GRACE_S = 2.0


def _now_ms() -> int:
    return int(time.time() * 1000)


def frame_id(key: Key) -> str:
    return f"{key[0]}/{key[1]}/{key[2]}"


@dataclass
class Job:
    """A frame in hand (not yet finally answered)."""

    report: Report
    received: float  # time.monotonic() at receipt (or recovery)
    received_ms: int  # wall clock at receipt (survives restarts)
    escalation: Reason | None
    pixels: np.ndarray | None = None
    edge: Answer | None = None
    edge_margin: float = 0.0

    @property
    def key(self) -> Key:
        return self.report.key

    def latency_ms(self) -> float:
        return (time.monotonic() - self.received) * 1000


@dataclass(order=True)
class _Deadline:
    at: float
    n: int
    key: Key = field(compare=False)


@dataclass
class _Waiter:
    job: Job
    fallback: Answer
    stale: bool
    sent_at: float


class Gateway:
    def __init__(self, config: GatewayConfig, *, edge_model: EdgeModel | None = None,
                 frame_store: FrameStore | None = None) -> None:
        self.cfg = config
        self.topics = config.topics
        self.metrics = GatewayMetrics()
        self.storage = StorageHealth(on_error=self._storage_error)
        self.frame_store = frame_store if frame_store is not None else store_from_config(
            config.cloud.frame_store, endpoint_url=config.cloud.frame_store_endpoint_url,
            region=config.cloud.frame_store_region)  # hook (anymodel): [cloud] frame_store
        self._edge_model = edge_model
        self._lock = threading.RLock()
        self._waiters: dict[Key, _Waiter] = {}
        self._deadlines: list[_Deadline] = []
        self._tick = itertools.count()
        self._wake = threading.Condition(self._lock)
        self._acked_mids: list[int] = []
        self._outbox: dict[int, tuple[Key, int]] = {}
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._ready = threading.Event()
        self._subscribed = threading.Event()
        self._cloud_rtt_ms = 200.0
        self._started = False
        self._recovered_unsent: list[tuple[Key, int, bytes]] = []
        self._pending_recovery: list[Job] = []
        self.spool: Spool | None = None
        self.ledger: Ledger | None = None
        self.cache: LastGoodCache | None = None
        self.cloud: CloudClient | None = None
        self.batcher: DynamicBatcher[Job, EdgeAnswer] | None = None
        self.http: ObserveServer | None = None
        self.edge: EdgeModel | None = None
        self.site: mqtt.Client | None = None
        self._housekeeper = threading.Thread(target=self._housekeeping, name="gw-house",
                                             daemon=True)

    # == life cycle =====================================================================
    def start(self, timeout: float = 30.0) -> Gateway:
        cfg = self.cfg
        state = Path(cfg.storage.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        health = self.storage
        self.ledger = Ledger(state / "ledger.sqlite", keep=cfg.storage.dedupe_keep,
                             memory_keep=cfg.storage.memory_keep, health=health)
        self.cache = LastGoodCache(state / "cache.sqlite", cfg.storage.cache_entries,
                                   health=health)
        spool = self.spool = Spool(state / "spool.sqlite", cfg.storage.spool_max_bytes,
                                   health=health)
        self.edge = self._edge_model
        if self.edge is None and cfg.edge.model:
            self.edge = TFLiteEdgeModel(cfg.edge.model, num_threads=cfg.edge.num_threads,
                                        delegate=cfg.edge.delegate or None,
                                        temperature=cfg.thresholds.edge_temperature)
        if self.edge is not None:
            self.batcher = DynamicBatcher(self._run_edge, self._on_edge_done,
                                          max_batch=cfg.edge.max_batch,
                                          max_delay_s=cfg.edge.max_delay_ms / 1000,
                                          capacity=cfg.edge.queue_size, name="gw-edge")
            self.batcher.start()
        if cfg.cloud.enabled:
            self.cloud = CloudClient(
                settings=cfg.cloud_broker or cfg.site, topics=self.topics,
                gateway_id=cfg.gateway_id, cfg=cfg.cloud, spool=spool, metrics=self.metrics,
                on_answer=self._on_cloud_answer, frame_store=self.frame_store,
                client_id=cfg.cloud_session_client_id)
        if cfg.observe.http_port >= 0:
            self.http = ObserveServer(cfg.observe.http_host, cfg.observe.http_port,
                                      self.metrics.registry, self.readiness)
            self.http.start()
        self._recover()
        if self.cloud is not None:
            self.cloud.start()
        self._connect_site()
        self._housekeeper.start()
        self._started = True
        if self.cloud is not None and not self.cloud.wait_connected(min(timeout, 5.0)):
            log.warning("cloud broker not reachable yet; answering locally until it is")
        if not self._ready.wait(timeout):
            log.warning("site broker not ready yet; still trying",
                        extra={"broker": cfg.site.url})
        log.info("gateway started", extra={
            "gateway_id": cfg.gateway_id, "site": cfg.site.url,
            "cloud": (cfg.cloud_broker or cfg.site).url if cfg.cloud.enabled else None,
            "edge_model": self.edge.model_id if self.edge else None,
            "http_port": self.http.port if self.http else None})
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop: take no new reports, finish or spool what is in hand, go offline."""
        if not self._started or self._stopping.is_set():
            return
        self._stopping.set()
        self._ready.clear()
        if self.batcher is not None:
            self.batcher.stop(timeout)
        grace = time.monotonic() + min(STOP_GRACE_S, timeout)
        with self._lock:
            while self._waiters and time.monotonic() < grace:
                self._wake.wait(0.05)
            left = list(self._waiters)
        for key in left:  # their frames stay spooled: a correction follows when the cloud answers
            self._expire(key, Reason.CLOUD_TIMEOUT)
        if self.cloud is not None:
            self.cloud.stop()
        with self._wake:
            self._wake.notify_all()
        self._housekeeper.join(timeout)
        if self.site is not None:
            info = self.site.publish(self.topics.gateway_state(self.cfg.gateway_id),
                                     self._state_payload(False), qos=1, retain=True)
            deadline = time.monotonic() + 5
            while (not info.is_published() and time.monotonic() < deadline
                   and self.site.is_connected()):
                time.sleep(0.01)
            self._wait_outbox(deadline)
            self._flush_sent()
            self.site.disconnect()
            self.site.loop_stop()
        if self.http is not None:
            self.http.stop()
        for store in (self.ledger, self.cache, self.spool):
            if store is not None:
                store.close()
        self._stopped.set()
        log.info("gateway stopped", extra={"gateway_id": self.cfg.gateway_id})

    def readiness(self) -> tuple[bool, str]:
        """``/readyz``. A state disk that refuses writes keeps the gateway ready (200):
        it still answers and acknowledges every report, and taking it out of service
        would neither free the disk nor leave the site's reports anywhere better; the
        text says ``degraded storage`` (alert on ``ec_gateway_storage_degraded``)."""
        if self._stopping.is_set():
            return False, "stopping"
        if not self._ready.is_set():
            return False, "not connected to the site broker"
        failing = self.storage.degraded()
        if failing:
            stores = ", ".join(f"{name}: {why}" for name, why in sorted(failing.items()))
            return True, f"ready, degraded storage ({stores})"
        return True, "ready"

    def _storage_error(self, store: str, reason: str) -> None:
        self.metrics.inc("storage_errors", store=store, reason=reason)

    @property
    def ready(self) -> bool:
        return self.readiness()[0]

    @property
    def http_port(self) -> int | None:
        return self.http.port if self.http else None

    # == site connection ===============================================================
    def _state_payload(self, online: bool) -> bytes:
        return encode(ServiceState(service_id=self.cfg.gateway_id, online=online, ts_ms=_now_ms(),
                                   version=__version__[:32],
                                   model_id=self.edge.model_id[:64] if self.edge else None))

    def _connect_site(self) -> None:
        cfg = self.cfg
        client = make_client(cfg.site, cfg.session_client_id, clean_start=False,
                             will=(self.topics.gateway_state(cfg.gateway_id),
                                   self._state_payload(False)))
        client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self.site = client
        client.connect_async(cfg.site.host, cfg.site.port, keepalive=cfg.site.keepalive,
                             **connect_properties(cfg.site, False))  # type: ignore[arg-type]
        client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object,
                    props: object = None) -> None:
        if getattr(rc, "is_failure", False):
            log.error("site broker refused connection", extra={"rc": str(rc)})
            return
        group = self.cfg.shared_group
        client.subscribe([
            (self.topics.filter(TopicKind.DEVICE_REPORT, group), 1),
            (self.topics.filter(TopicKind.DEVICE_STATE, group), 1),
        ])
        client.publish(self.topics.gateway_state(self.cfg.gateway_id), self._state_payload(True),
                       qos=1, retain=True)
        log.info("site link up", extra={"broker": self.cfg.site.url,
                                        "session_present": getattr(flags, "session_present", None)})

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, rcs: object,
                      props: object = None) -> None:
        self._ready.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, rc: object,
                       props: object = None) -> None:
        self._ready.clear()
        if not self._stopping.is_set():
            log.warning("site link down", extra={"rc": str(rc)})

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, rc: object = None,
                    props: object = None) -> None:
        self._acked_mids.append(mid)  # list.append is atomic; matched in housekeeping

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # not acknowledged: the broker redelivers it to our next session
        received = time.monotonic()
        try:
            kind, id_ = self._parse_topic(msg.topic)
            if kind is TopicKind.DEVICE_REPORT:
                self._handle_report(id_, bytes(msg.payload), received)
            elif kind is TopicKind.DEVICE_STATE:
                self._handle_device_state(bytes(msg.payload), bool(msg.retain))
        except Exception:
            # Not acknowledged: the report is not durable. It is redelivered on reconnect.
            self.metrics.inc("rejected", reason="internal")
            log.exception("report handling failed", extra={"topic": msg.topic[:200]})
            return
        if msg.qos > 0:
            client.ack(msg.mid, msg.qos)

    def _parse_topic(self, topic: str) -> tuple[TopicKind | None, str]:
        try:
            parsed = self.topics.parse(topic)
        except ProtocolError as exc:
            self.metrics.inc("rejected", reason=exc.reason)
            return None, ""
        return parsed.kind, parsed.id

    # == reports =========================================================================
    def _reject(self, reason: str, device: str, why: str) -> None:
        self.metrics.inc("rejected", reason=reason)
        log.warning("report rejected", extra={"reason": reason, "device_id": device[:64],
                                              "why": why[:200]})

    def _handle_report(self, topic_id: str, payload: bytes, received: float) -> None:
        self.metrics.inc("reports")
        try:
            report = decode(Report, payload, self.cfg.site_max_payload_bytes)  # hook (anymodel)
        except ProtocolError as exc:
            self._reject(exc.reason, topic_id, exc.why)
            return
        if report.device_id != topic_id:
            self._reject("report:topic_mismatch", topic_id,
                         f"payload device {report.device_id!r} on topic of {topic_id!r}")
            return
        allow = self.cfg.devices.allowlist
        if allow and report.device_id not in allow:
            self._reject("report:unknown_device", report.device_id, "not in devices.allowlist")
            return
        pixels = None
        if report.frame is not None and self.edge is not None:
            try:
                pixels = self.edge.pixels(report.frame)
            except FrameRejected as exc:
                self._reject("report:frame_shape", report.device_id, exc.why)
                return
        job = Job(report, received, _now_ms(),
                  policy.device_escalation(report, self.cfg.thresholds), pixels)
        self._admit(job, payload)

    def _admit(self, job: Job, payload: bytes | None) -> None:
        """Decide and make the frame durable (``payload`` None: recovered, already stored)."""
        assert self.ledger is not None and self.cache is not None
        report = job.report
        cached = None
        if job.escalation is not None and report.frame is not None:
            cached = self.cache.lookup(frame_hash(report.frame))
        decision = policy.decide(report, self._snapshot(job, cached=cached is not None))
        self.metrics.inc("decisions", action=decision.action.value, reason=decision.reason.value)
        if decision.action is Action.ACCEPT_DEVICE:
            answer = device_answer(report, job.received_ms)
            built: list[tuple[Result, bytes]] = []

            def build() -> bytes:
                result = self._result(job, answer, decision.reason,
                                      escalation=decision.escalation)
                built.append((result, encode(result)))
                return built[0][1]

            if payload is not None:
                existing = self.ledger.admit_final(job.key, job.received_ms, build)
                if existing is not None:
                    self._duplicate(job.key, existing.status)
                    return
            else:
                self.ledger.record(job.key, 0, build(), cloud_done=False)
            self._publish(*built[0])
            if decision.reason is Reason.CONFIDENT:
                self.cache.put_stream(report.device_id, answer)
            return
        if payload is not None:
            existing = self.ledger.admit(job.key, payload, job.received_ms)
            if existing is not None:
                self._duplicate(job.key, existing.status)
                return
        self._route(job, decision, cached)

    def _duplicate(self, key: Key, status: Status) -> None:
        self.metrics.inc("duplicates")
        log.info("duplicate report", extra={"frame": frame_id(key), "status": status.name})

    def _route(self, job: Job, decision: Decision, cached: Answer | None = None) -> None:
        if decision.action is Action.CACHE and cached is not None:
            self.metrics.inc("cache_hits", kind="content")
            self._finalize(job, replace(cached, tier=Tier.CACHE.value), decision.reason,
                           escalation=decision.escalation)
        elif decision.action is Action.EDGE:
            assert self.batcher is not None
            if not self.batcher.submit(job):  # filled up since the snapshot
                snap = self._snapshot(job, edge_full=True)
                self._route(job, policy.decide(job.report, snap))
        elif decision.action is Action.CLOUD:
            self._escalate(job, decision)
        else:
            self._answer_locally(job, decision)

    def _snapshot(self, job: Job, cached: bool = False, edge_full: bool = False) -> Snapshot:
        b = self.batcher
        cap = b.capacity if b else 1
        return Snapshot(
            thresholds=self.cfg.thresholds,
            edge_available=b is not None,
            edge_queue_depth=cap if edge_full else (b.depth if b else 0),
            edge_queue_capacity=cap,
            breaker=self.cloud.state() if self.cloud else BreakerState.OPEN,
            cloud_enabled=self.cloud is not None,
            spent=self.cloud.spent() if self.cloud else 0.0,
            budget=self.cfg.cloud.budget_messages,
            cloud_latency_ms=self._cloud_rtt_ms,
            elapsed_ms=job.latency_ms(),
            cached=cached,
        )

    # == edge tier =======================================================================
    def _run_edge(self, jobs: list[Job]) -> list[EdgeAnswer]:
        assert self.edge is not None and self.batcher is not None
        self.metrics.batch_size.observe(len(jobs))
        self.metrics.set("edge_queue_depth", self.batcher.depth)
        return self.edge.classify(np.stack([j.pixels for j in jobs if j.pixels is not None]))

    def _on_edge_done(self, job: Job, result: EdgeAnswer | BaseException, batch: int) -> None:
        try:
            if isinstance(result, BaseException):
                self.metrics.inc("edge_errors")
                log.error("edge model failed", extra={"frame": frame_id(job.key),
                                                      "error": str(result)[:200]})
                conf, margin = 0.0, 0.0
            else:
                assert self.edge is not None
                job.edge = Answer(result.label, result.confidence, "edge", self.edge.model_id,
                                  self.edge.model_version, _now_ms())
                conf, margin = result.confidence, result.margin
            decision = policy.decide_after_edge(job.report, conf, margin, self._snapshot(job),
                                                job.escalation)
            self.metrics.inc("decisions", action=decision.action.value,
                             reason=decision.reason.value)
            if decision.action is Action.ACCEPT_EDGE and job.edge is not None:
                self._finalize(job, job.edge, decision.reason, escalation=decision.escalation)
                self._remember(job, job.edge)
            elif decision.action is Action.CLOUD:
                self._escalate(job, decision)
            else:
                self._answer_locally(job, decision)
        except Exception:
            log.exception("edge completion failed", extra={"frame": frame_id(job.key)})

    # == cloud tier ======================================================================
    def _local_answer(self, job: Job) -> tuple[Answer, bool]:
        assert self.cache is not None
        last = self.cache.last(job.report.device_id)
        answer, stale = measured_fallback(  # hook (anymodel): the measured-best source
            device_answer(job.report, job.received_ms), job.edge, last, _now_ms(),
            int(self.cfg.storage.stale_max_age_s * 1000), self.cfg.thresholds.fallback_order)
        if stale:
            self.metrics.inc("cache_hits", kind="stale")
        return answer, stale

    def _spool(self, job: Job, answer: Answer) -> str | None:
        """Hand the frame to the cloud client (spooled); None when kept, else why not."""
        assert self.cloud is not None and job.report.frame is not None
        value = (job.report.priority or 0) + 1.0 - answer.confidence
        try:
            res = self.cloud.enqueue(job.key, job.report.frame, job.report.private, value)
        except PrivacyViolation:
            log.error("private frame refused at the cloud boundary",
                      extra={"frame": frame_id(job.key)})
            return "privacy"
        for key in res.dropped:
            self.metrics.inc("spool_dropped", reason=res.reason)
            if res.reason not in ("disk_full", "io_error"):  # those: one rate-limited ERROR
                log.warning("spooled frame dropped",
                            extra={"frame": frame_id(key), "reason": res.reason})
        return None if res.stored else (res.reason or "not_stored")

    def _escalate(self, job: Job, decision: Decision) -> None:
        answer, stale = self._local_answer(job)
        budget_ms = self.cfg.cloud.deadline_ms
        if job.report.deadline_ms is not None:
            budget_ms = min(budget_ms, job.report.deadline_ms)
        at = job.received + budget_ms / 1000
        # Wait for the answer *before* the frame can reach the cloud: a fast answer must
        # find its waiter (else it would be taken for a stray and the frame degraded).
        with self._wake:
            self._waiters[job.key] = _Waiter(job, answer, stale, time.monotonic())
        unspooled = self._spool(job, answer)
        if unspooled is not None:
            with self._wake:
                mine = self._waiters.pop(job.key, None)
            if mine is not None:
                reason = Reason.PRIVACY if job.report.private else Reason.CLOUD_DOWN
                if unspooled.startswith("claimcheck"):
                    reason = Reason.CLOUD_ERROR  # the claim-check store failed the frame
                self._finalize(job, answer, reason, escalation=decision.escalation,
                               degraded=True, stale=stale)
            return
        with self._wake:
            heapq.heappush(self._deadlines, _Deadline(at, next(self._tick), job.key))
            self._wake.notify_all()
        self.metrics.set("pending_frames", len(self._waiters))

    def _answer_locally(self, job: Job, decision: Decision) -> None:
        answer, stale = self._local_answer(job)
        self._finalize(job, answer, decision.reason, escalation=decision.escalation,
                       degraded=True, stale=stale)
        if decision.spool and self.cloud is not None and not job.report.private:
            self._spool(job, answer)

    def _on_cloud_answer(self, out: CloudOutcome) -> None:
        key = out.answer.key
        with self._lock:
            waiter = self._waiters.pop(key, None)
            if waiter is not None:
                rtt = (time.monotonic() - waiter.sent_at) * 1000
                self._cloud_rtt_ms = 0.8 * self._cloud_rtt_ms + 0.2 * rtt
                if out.answer.error is not None:
                    self._finalize(waiter.job, waiter.fallback, Reason.CLOUD_ERROR,
                                   escalation=waiter.job.escalation, degraded=True,
                                   stale=waiter.stale)
                else:
                    answer = self._cloud_answer(out)
                    self._finalize(waiter.job, answer, Reason.CLOUD_ANSWER, cost=out.cost,
                                   escalation=waiter.job.escalation)
                    self._remember(waiter.job, answer)
                self._wake.notify_all()
                return
            if out.answer.error is not None:
                log.info("late cloud error", extra={"frame": frame_id(key),
                                                    "error": out.answer.error[:200]})
                return
            self._correct(key, out)

    def _cloud_answer(self, out: CloudOutcome) -> Answer:
        assert out.answer.label is not None and out.answer.confidence is not None
        return Answer(out.answer.label, out.answer.confidence, "cloud", out.model_id,
                      out.model_version, _now_ms())

    def _correct(self, key: Key, out: CloudOutcome) -> None:
        """A cloud answer for a frame already answered locally: publish a correction."""
        assert self.ledger is not None and self.cache is not None
        state = self.ledger.state(key)
        if state is None or state.status is Status.PENDING or state.cloud_done:
            self.metrics.inc("duplicates")
            log.info("cloud answer not needed", extra={
                "frame": frame_id(key), "state": state.status.name if state else "unknown"})
            return
        answer = self._cloud_answer(out)
        now = _now_ms()
        result = make_result(key, answer, reason=Reason.CLOUD_ANSWER,
                             gateway_id=self.cfg.gateway_id, now_ms=now,
                             latency_ms=float(now - state.received_ms),
                             revision=state.revision + 1, cost=out.cost)
        data = encode(result)
        self.ledger.record(key, result.revision, data, cloud_done=True)
        self.metrics.inc("corrections")
        self._publish(result, data)
        self.cache.put_stream(key[0], answer)
        if out.item.frame is not None:
            self.cache.put_content(frame_hash(out.item.frame), answer)

    def _expire(self, key: Key, reason: Reason) -> None:
        with self._lock:
            waiter = self._waiters.pop(key, None)
            if waiter is None:
                return
            self._finalize(waiter.job, waiter.fallback, reason, escalation=waiter.job.escalation,
                           degraded=True, stale=waiter.stale)
            self._wake.notify_all()

    # == answers =========================================================================
    def _result(self, job: Job, answer: Answer, reason: Reason, *, cost: float = 0.0,
                escalation: Reason | None = None, degraded: bool = False,
                stale: bool = False) -> Result:
        return make_result(job.key, answer, reason=reason, gateway_id=self.cfg.gateway_id,
                           now_ms=_now_ms(), latency_ms=job.latency_ms(), cost=cost,
                           escalation=escalation, degraded=degraded, stale=stale)

    def _finalize(self, job: Job, answer: Answer, reason: Reason, *, cost: float = 0.0,
                  escalation: Reason | None = None, degraded: bool = False,
                  stale: bool = False) -> None:
        """Publish a frame's first final answer (revision 0); the one place that does."""
        assert self.ledger is not None
        result = self._result(job, answer, reason, cost=cost, escalation=escalation,
                              degraded=degraded, stale=stale)
        data = encode(result)
        with self._lock:
            state = self.ledger.state(job.key)
            if state is not None and state.status is not Status.PENDING:
                self.metrics.inc("duplicates")
                return
            self.ledger.record(job.key, 0, data, cloud_done=answer.tier == "cloud")
            self._publish(result, data)
        if degraded or stale:
            self.metrics.inc("degraded", kind="stale" if stale else "degraded")

    def _remember(self, job: Job, answer: Answer) -> None:
        assert self.cache is not None
        self.cache.put_stream(job.report.device_id, answer)
        if job.report.frame is not None:
            self.cache.put_content(frame_hash(job.report.frame), answer)

    def _publish(self, result: Result, data: bytes) -> None:
        assert self.site is not None
        info = self.site.publish(self.topics.result(result.device_id), data, qos=1)
        self._outbox[info.mid] = (result.key, result.revision)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.metrics.inc("publish_failed")
        self.metrics.inc("results", tier=result.tier, reason=result.reason)
        self.metrics.observe_latency(result.tier, result.latency_ms / 1000)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("result", extra={"frame": frame_id(result.key), "tier": result.tier,
                                       "reason": result.reason, "revision": result.revision})

    # == epochs ==========================================================================
    def _handle_device_state(self, payload: bytes, retained: bool) -> None:
        assert self.ledger is not None
        try:
            state = decode(DeviceState, payload)
        except ProtocolError as exc:
            self.metrics.inc("rejected", reason=exc.reason)
            return
        if not (state.online and state.epoch is None and self.cfg.devices.assign_epochs):
            return
        if retained and self.ledger.has_epoch(state.device_id):
            return  # an old birth seen again after our restart: its epoch was assigned
        epoch = self.ledger.next_epoch(state.device_id, floor=int(time.time()))
        t = self.cfg.thresholds
        config = DeviceConfig(revision=epoch, conf_threshold=t.device_confidence,
                              margin_threshold=t.device_margin,
                              complexity_limit=min(t.complexity_limit, 3.0e38), epoch=epoch)
        assert self.site is not None
        self.site.publish(self.topics.device_config(state.device_id), encode(config), qos=1,
                          retain=True)
        log.info("epoch assigned", extra={"device_id": state.device_id, "epoch": epoch})

    # == recovery and housekeeping =======================================================
    def _recover(self) -> None:
        """After a crash: republish stored-but-unconfirmed results, re-run pending frames."""
        assert self.ledger is not None
        unsent = self.ledger.unsent()
        pending = self.ledger.pending()
        if not unsent and not pending:
            return
        log.info("recovering", extra={"unsent_results": len(unsent),
                                      "pending_frames": len(pending)})
        self._recovered_unsent = unsent
        for frame in pending:
            try:
                report = decode(Report, frame.report)
                pixels = self.edge.pixels(report.frame) if (self.edge and report.frame) else None
            except (ProtocolError, FrameRejected):  # pragma: no cover - validated when stored
                continue
            age_s = max(0.0, (_now_ms() - frame.received_ms) / 1000)
            job = Job(report, time.monotonic() - age_s, frame.received_ms,
                      policy.device_escalation(report, self.cfg.thresholds), pixels)
            self._pending_recovery.append(job)

    def _resume(self) -> None:
        """Runs once the site client exists: publish and re-route what recovery found."""
        assert self.site is not None
        for key, revision, data in self._recovered_unsent:
            info = self.site.publish(self.topics.result(key[0]), data, qos=1)
            self._outbox[info.mid] = (key, revision)
        self._recovered_unsent = []
        jobs, self._pending_recovery = self._pending_recovery, []
        for job in jobs:
            self._admit(job, None)

    def _housekeeping(self) -> None:
        next_metrics = 0.0
        next_prune = time.monotonic() + 30
        next_checkpoint = 0.0
        resumed = False
        while not self._stopped.is_set():
            if not resumed and self._ready.is_set():
                try:
                    self._resume()
                except Exception:
                    log.exception("recovery failed")
                resumed = True
            with self._wake:
                wait = 0.2
                if self._deadlines:
                    wait = min(wait, max(0.0, self._deadlines[0].at - time.monotonic()))
                self._wake.wait(wait)
                due: list[Key] = []
                now = time.monotonic()
                while self._deadlines and self._deadlines[0].at <= now:
                    due.append(heapq.heappop(self._deadlines).key)
            for key in due:
                self._expire(key, Reason.CLOUD_TIMEOUT)
            try:
                self._flush_sent()
                if self.cache is not None:
                    self.cache.flush()
                now = time.monotonic()
                if now >= next_metrics:
                    next_metrics = now + self.cfg.observe.metrics_interval_s
                    self._publish_metrics()
                if now >= next_checkpoint:
                    next_checkpoint = now + 1.0
                    for store in (self.ledger, self.cache, self.spool):
                        if store is not None:
                            store.db.checkpoint()  # False (reported) when the disk refuses
                            store.db.probe()  # a failing store: does it write again?
                    # What the disk refused earlier goes to disk once it takes writes again.
                    if self.ledger is not None and self.ledger.owes_writes:
                        stored = self.ledger.flush_memory()
                        if stored:
                            log.info("ledger frames kept in memory now stored",
                                     extra={"frames": stored})
                    if self.spool is not None:
                        self.spool.flush_owed()
                    self.storage.tick()
                    self._storage_gauges()
                if now >= next_prune and self.ledger is not None:
                    next_prune = now + 30
                    self.ledger.prune()
            except Exception:
                log.exception("housekeeping step failed")
            if self._stopping.is_set() and not self._waiters:
                return

    def _flush_sent(self) -> None:
        if self.ledger is None:
            return
        mids, self._acked_mids = self._acked_mids, []
        done = []
        later = []
        for mid in mids:
            item = self._outbox.pop(mid, None)
            if item is None:
                later.append(mid)  # the PUBACK beat our bookkeeping: match it next round
            else:
                done.append(item)
        if later:
            self._acked_mids.extend(later[-10_000:])
        self.ledger.mark_sent(done)

    def _wait_outbox(self, deadline: float) -> None:
        while self._outbox and time.monotonic() < deadline:
            self._flush_sent()
            if self.site is None or not self.site.is_connected():
                return
            time.sleep(0.02)

    def _storage_gauges(self) -> None:
        self.metrics.set("storage_degraded", float(bool(self.storage.degraded())))
        if self.ledger is not None:
            self.metrics.set("ledger_memory_frames", self.ledger.memory_frames)

    def _publish_metrics(self) -> None:
        if self.batcher is not None:
            self.metrics.set("edge_queue_depth", self.batcher.depth)
        self.metrics.set("pending_frames", len(self._waiters))
        if self.site is None or not self._ready.is_set():
            return
        values = {k: float(v) for k, v in self.metrics.summary().items() if len(k) <= 128}
        msg = Metrics(service_id=self.cfg.gateway_id, ts_ms=_now_ms(), values=values)
        self.site.publish(self.topics.gateway_metrics(self.cfg.gateway_id), encode(msg), qos=0,
                          retain=True)
