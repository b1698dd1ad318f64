"""The cloud worker: the MQTT shell around the pure core, the batcher and the model.

Threads and flow::

    paho network thread   on_message: decode, dedupe, admit ──┐ (claim-check refs: fetch pool)
    batcher thread        model over the frames of requests arriving together
    outbox thread         rate-limited publish of each response, then ack its request(s)

Delivery: requests are QoS 1 and acknowledged by hand only after their response has
been handed to the connection (same socket, so the broker has the response before
the ack). A worker that dies holding requests never acks them: a broker that
redispatches shared-subscription messages (EMQX, HiveMQ, AWS IoT persistent
sessions) hands them to another worker; otherwise the gateway's deadline expires and
it falls back. In-hand work is bounded by the broker's in-flight window for this
client (unacked QoS 1 messages) and by ``limits.max_in_hand`` (beyond it: an explicit
"overloaded" error response, never silence).

Drops, all counted in metrics: undecodable requests (``requests{outcome="rejected"}``;
there is no gateway to answer) are logged and acked. Everything else is answered.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np
import paho.mqtt.client as mqtt

from edgecascade import __version__
from edgecascade.errors import CloudError
from edgecascade.mqtt import BrokerSettings, connect_properties, make_client
from edgecascade.mqtt import set_nodelay as nodelay
from edgecascade.protocol import (
    CloudRequest,
    CloudResponse,
    Frame,
    ProtocolError,
    ServiceState,
    TopicKind,
    Topics,
    decode,
    encode,
)

from . import core
from .batcher import BatcherClosed, Job, MicroBatcher
from .claimcheck import ClaimCheckError
from .config import WorkerConfig
from .dedupe import ResponseCache
from .metrics import WorkerMetrics
from .model import Classifier, InputError
from .ratelimit import RateLimiter

log = logging.getLogger("edgecascade.cloud.worker")


class FrameFetcher(Protocol):
    def get_frame(self, ref: str) -> Frame: ...


class WorkerError(CloudError, RuntimeError):
    """The worker could not start (broker refused, subscription refused, timeout)."""


@dataclass(frozen=True)
class Ticket:
    """One received QoS>0 message to acknowledge; only valid on its connection."""

    generation: int
    mid: int
    qos: int


@dataclass
class Outgoing:
    topic: str
    payload: bytes
    key: tuple[str, str] | None = None  # pending request this answers (acks its tickets)
    tickets: list[Ticket] = field(default_factory=list)  # extra acks (duplicates)
    received: float = 0.0
    retain: bool = False


_STOP = object()


def _ms() -> int:
    return int(time.time() * 1000)


def set_nodelay(client: mqtt.Client) -> None:
    """Disable Nagle on a connected client's socket (see ``edgecascade.mqtt.set_nodelay``)."""
    nodelay(client.socket())


class CloudWorker:
    def __init__(self, config: WorkerConfig, classifier: Classifier, settings: BrokerSettings,
                 *, store: FrameFetcher | None = None,
                 metrics: WorkerMetrics | None = None) -> None:
        self.config = config
        self.classifier = classifier
        self.settings = settings
        self.store = store
        self.metrics = metrics or WorkerMetrics()
        self.topics: Topics = config.topics
        self.worker_id = config.worker_id
        self.cache = ResponseCache(config.limits.dedupe_capacity)
        self.limiter = RateLimiter(config.limits.publish_per_second)
        self.filter = self.topics.filter(TopicKind.CLOUD_REQUEST,
                                         shared_group=config.shared_group or None)
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], list[Ticket]] = {}
        self._in_hand = 0
        self._idle = threading.Condition(self._lock)
        self._generation = 0
        self._subscribed = threading.Event()
        self._unsubscribed = threading.Event()
        self._connect_error: str | None = None  # fatal: refused by the broker
        self._last_failure: str | None = None  # why the last connection attempt failed
        self._stopping = threading.Event()
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._batcher = MicroBatcher(
            classifier.predict, max_batch=config.model.max_batch,
            max_delay=config.model.max_delay_ms / 1000.0, on_batch=self._on_batch,
            name=f"batcher-{self.worker_id}")
        self._fetch_pool = ThreadPoolExecutor(config.limits.fetch_threads,
                                              thread_name_prefix=f"fetch-{self.worker_id}")
        self._outbox_thread = threading.Thread(target=self._run_outbox, daemon=True,
                                               name=f"outbox-{self.worker_id}")
        self._http: Any = None
        will = (self.topics.worker_state(self.worker_id), self._state_payload(False))
        self.client = make_client(settings, self.worker_id,
                                  clean_start=config.broker.clean_start, will=will)
        self.client.manual_ack_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        self.client.on_message = self._on_message

    # -- lifecycle ----------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> CloudWorker:
        """Connect, subscribe, publish the birth state; raise WorkerError on failure."""
        if self.config.metrics.port:
            from prometheus_client import start_http_server

            self._http, _ = start_http_server(self.config.metrics.port,
                                              addr=self.config.metrics.host,
                                              registry=self.metrics.registry)
        self._batcher.start()
        self._outbox_thread.start()
        self.client.connect_async(self.settings.host, self.settings.port,
                                  keepalive=self.settings.keepalive,
                                  **connect_properties(self.settings,  # type: ignore[arg-type]
                                                       self.config.broker.clean_start))
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while not self._subscribed.wait(0.1):
            if self._connect_error or time.monotonic() > deadline:
                why = self._connect_error or f"not subscribed within {timeout:.0f} s" + (
                    f" (last attempt: {self._last_failure})" if self._last_failure else "")
                self._shutdown_threads(0.0)
                raise WorkerError(f"{self.settings.url}: {why}")
        log.info("worker started", extra={"worker_id": self.worker_id, "filter": self.filter,
                                          "model_id": self.classifier.model_id})
        return self

    def stop(self, timeout: float = 30.0) -> bool:
        """Graceful: stop taking work, finish in-hand requests, publish offline, disconnect.

        Returns True when every in-hand request was answered within ``timeout``.
        """
        if self._stopping.is_set():
            return True
        self._stopping.set()
        deadline = time.monotonic() + timeout
        if self.client.is_connected():
            self.client.unsubscribe(self.filter)
            self._unsubscribed.wait(min(5.0, timeout))
        with self._idle:
            while self._in_hand > 0 and time.monotonic() < deadline:
                self._idle.wait(max(0.01, deadline - time.monotonic()))
            drained = self._in_hand == 0
            left = self._in_hand
        if not drained:
            log.warning("stopping with requests in hand", extra={"in_hand": left})
        self.limiter.acquire()  # every publish of this connection counts against the quota
        offline = self._state_payload(False)
        info = self.client.publish(self.topics.worker_state(self.worker_id), offline, qos=1,
                                   retain=True)
        self.metrics.message("out", len(offline))
        if self.client.is_connected():
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(max(1.0, deadline - time.monotonic()))
        self.client.disconnect()
        self.client.loop_stop()
        self._shutdown_threads(max(0.0, deadline - time.monotonic()))
        log.info("worker stopped", extra={"worker_id": self.worker_id, "drained": drained})
        return drained

    def _shutdown_threads(self, timeout: float) -> None:
        self._batcher.close(timeout)
        self._outbox.put(_STOP)
        if self._outbox_thread.is_alive():
            self._outbox_thread.join(timeout or None)
        self._fetch_pool.shutdown(wait=False, cancel_futures=True)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self.client.is_connected():
            self.client.disconnect()
        self.client.loop_stop()

    @property
    def in_hand(self) -> int:
        with self._lock:
            return self._in_hand

    def _state_payload(self, online: bool) -> bytes:
        return encode(ServiceState(self.worker_id, online, _ms(), version=__version__,
                                   model_id=self.classifier.model_id))

    # -- paho callbacks (network thread) ----------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: Any, props: object = None) -> None:
        if reason.is_failure:
            self._connect_error = f"connection refused: {reason}"
            log.error("connection refused", extra={"reason": str(reason)})
            return
        with self._lock:
            self._generation += 1
        set_nodelay(client)
        self.metrics.connected.set(1)
        log.info("connected", extra={"url": self.settings.url})
        if not self._stopping.is_set():
            client.subscribe(self.filter, qos=1)
        self._outbox.put(Outgoing(self.topics.worker_state(self.worker_id),
                                  self._state_payload(True), retain=True))

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        # paho gives no reason here; the TCP/TLS error was logged by paho's own logger
        self._last_failure = "connection or TLS handshake failed"
        log.warning("connection attempt failed", extra={"url": self.settings.url})

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object,
                       reason: Any, props: object = None) -> None:
        self.metrics.connected.set(0)
        if not self._stopping.is_set():
            log.warning("disconnected", extra={"reason": str(reason)})

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int,
                      reasons: list[Any], props: object = None) -> None:
        if any(r.is_failure for r in reasons):
            self._connect_error = f"subscription to {self.filter} refused: {reasons[0]}"
            log.error("subscription refused", extra={"filter": self.filter})
            return
        self._subscribed.set()

    def _on_unsubscribe(self, client: mqtt.Client, userdata: object, mid: int,
                        reasons: list[Any], props: object = None) -> None:
        self._unsubscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        received = time.perf_counter()
        with self._lock:
            ticket = Ticket(self._generation, msg.mid, msg.qos)
        self.metrics.message("in", len(msg.payload))
        try:
            parsed = self.topics.parse(msg.topic)
            if parsed.kind is not TopicKind.CLOUD_REQUEST:
                raise ProtocolError("topic", "", f"{parsed.kind.value} is not a cloud request")
            request = decode(CloudRequest, msg.payload)
        except ProtocolError as exc:
            self.metrics.requests.labels("rejected").inc()
            self.metrics.errors.labels(exc.reason).inc()
            log.warning("rejected cloud request", extra={
                "topic": msg.topic[:200], "what": exc.what, "where": exc.where, "why": exc.why})
            self._ack(ticket)
            return
        try:
            self._admit(parsed.id, request, ticket, received)
        except Exception:  # never let one request kill the network thread
            log.exception("request handling failed", extra={
                "correlation_id": request.correlation_id})
            self.metrics.errors.labels("worker:internal").inc()
            self._reply_error(parsed.id, request.correlation_id, "internal worker error",
                              [ticket], received)

    # -- admission ----------------------------------------------------------------------
    def _admit(self, gateway_id: str, request: CloudRequest, ticket: Ticket,
               received: float) -> None:
        cid = request.correlation_id
        if request.gateway_id != gateway_id:
            self.metrics.errors.labels("request:gateway_id").inc()
            self._reply_error(gateway_id, cid, f"request names gateway {request.gateway_id!r} "
                              f"but came on the topic of {gateway_id!r}", [ticket], received)
            return
        key = (gateway_id, cid)
        cached = self.cache.get(key)
        if cached is not None:
            self.metrics.requests.labels("duplicate").inc()
            self._outbox.put(Outgoing(self.topics.cloud_response(gateway_id), cached,
                                      tickets=[ticket], received=received))
            return
        with self._lock:
            if key in self._pending:  # redelivered while in hand: answered when it is done
                self._pending[key].append(ticket)
                self.metrics.requests.labels("duplicate").inc()
                return
            overloaded = self._in_hand >= self.config.limits.max_in_hand
            if not overloaded:
                self._pending[key] = [ticket]
                self._in_hand += 1
                self.metrics.in_hand.set(self._in_hand)
        if overloaded:
            self.metrics.errors.labels("worker:overloaded").inc()
            self._reply_error(gateway_id, cid, "worker overloaded", [ticket], received)
            return
        if any(item.frame_ref is not None for item in request.items):
            self._fetch_pool.submit(self._prepare_and_submit, gateway_id, request, received)
        else:
            self._prepare_and_submit(gateway_id, request, received)

    def _prepare_and_submit(self, gateway_id: str, request: CloudRequest,
                            received: float) -> None:
        try:
            inputs = [self._prepare_item(item) for item in request.items]
            job = Job(core.stack_pixels(inputs),
                      partial(self._finish, gateway_id, request, inputs, received))
            self._batcher.submit(job)
        except BatcherClosed:
            self._fail_pending(gateway_id, request, "worker shutting down", received)
        except Exception:
            log.exception("request preparation failed")
            self.metrics.errors.labels("worker:internal").inc()
            self._fail_pending(gateway_id, request, "internal worker error", received)

    def _prepare_item(self, item: Any) -> core.ItemInput:
        frame = item.frame
        if frame is None:
            if self.store is None:
                self.metrics.errors.labels("claimcheck:unconfigured").inc()
                return core.ItemInput.failed(item, "claim-check not configured on this worker",
                                             transient=True)
            try:
                frame = self.store.get_frame(item.frame_ref)
            except ClaimCheckError as exc:
                self.metrics.errors.labels(exc.reason).inc()
                return core.ItemInput.failed(item, f"claim-check: {exc.why}",
                                             transient=exc.transient)
        try:
            return core.ItemInput.ok(item, self.classifier.to_pixels(frame))
        except InputError as exc:
            self.metrics.errors.labels("frame:input").inc()
            return core.ItemInput.failed(item, f"bad frame: {exc}")

    # -- completion (batcher thread) ------------------------------------------------------
    def _finish(self, gateway_id: str, request: CloudRequest, inputs: list[core.ItemInput],
                received: float, probs: np.ndarray | None, error: BaseException | None) -> None:
        try:
            self._answer(gateway_id, request, inputs, received, probs, error)
        except Exception:  # never leave an admitted request unanswered
            log.exception("building the response failed",
                          extra={"correlation_id": request.correlation_id})
            self.metrics.errors.labels("worker:internal").inc()
            self._fail_pending(gateway_id, request, "internal worker error", received)

    def _answer(self, gateway_id: str, request: CloudRequest, inputs: list[core.ItemInput],
                received: float, probs: np.ndarray | None, error: BaseException | None) -> None:
        worker_ms = (time.perf_counter() - received) * 1000.0
        model = self.classifier
        response: CloudResponse
        cacheable = False
        if error is not None:
            self.metrics.errors.labels("model:error").inc()
            log.error("model failed", extra={"correlation_id": request.correlation_id,
                                             "error": str(error)[:200]})
            response = core.error_response(
                request.correlation_id, f"model error: {error}", worker_id=self.worker_id,
                model_id=model.model_id, model_version=model.model_version,
                worker_ms=worker_ms, ts_ms=_ms())
        else:
            try:
                items = core.answers(inputs, probs)
                response = core.ok_response(
                    request, worker_id=self.worker_id, model_id=model.model_id,
                    model_version=model.model_version, items=items, worker_ms=worker_ms,
                    ts_ms=_ms())
                cacheable = core.cacheable(inputs)
            except (ValueError, ProtocolError) as exc:
                self.metrics.errors.labels("model:output").inc()
                response = core.error_response(
                    request.correlation_id, f"model output unusable: {exc}",
                    worker_id=self.worker_id, model_id=model.model_id,
                    model_version=model.model_version, worker_ms=worker_ms, ts_ms=_ms())
        payload = encode(response)
        key = (gateway_id, request.correlation_id)
        if cacheable:
            self.cache.put(key, payload)
            self.metrics.dedupe_evictions.set(self.cache.evictions)
        answered = sum(1 for a in response.items if a.error is None)
        self.metrics.frames.labels("answered").inc(answered)
        self.metrics.frames.labels("error").inc(len(request.items) - answered)
        self.metrics.requests.labels(response.status).inc()
        log.debug("answered", extra={"correlation_id": request.correlation_id,
                                     "gateway_id": gateway_id, "status": response.status,
                                     "items": len(request.items), "answered": answered,
                                     "worker_ms": round(worker_ms, 2), "cached": cacheable})
        self._outbox.put(Outgoing(self.topics.cloud_response(gateway_id), payload, key=key,
                                  received=received))

    def _fail_pending(self, gateway_id: str, request: CloudRequest, why: str,
                      received: float) -> None:
        """Answer an admitted request with an error (its tickets are acked on publish)."""
        model = self.classifier
        response = core.error_response(
            request.correlation_id, why, worker_id=self.worker_id, model_id=model.model_id,
            model_version=model.model_version,
            worker_ms=(time.perf_counter() - received) * 1000.0, ts_ms=_ms())
        self.metrics.requests.labels("error").inc()
        self._outbox.put(Outgoing(self.topics.cloud_response(gateway_id), encode(response),
                                  key=(gateway_id, request.correlation_id), received=received))

    def _reply_error(self, gateway_id: str, cid: str, why: str, tickets: list[Ticket],
                     received: float) -> None:
        model = self.classifier
        response = core.error_response(
            cid, why, worker_id=self.worker_id, model_id=model.model_id,
            model_version=model.model_version,
            worker_ms=(time.perf_counter() - received) * 1000.0, ts_ms=_ms())
        self.metrics.requests.labels("error").inc()
        self._outbox.put(Outgoing(self.topics.cloud_response(gateway_id), encode(response),
                                  tickets=tickets, received=received))

    def _on_batch(self, frames: int, seconds: float) -> None:
        self.metrics.batch_frames.observe(frames)
        self.metrics.model_seconds.observe(seconds)

    # -- outbox (its own thread) ---------------------------------------------------------
    def _run_outbox(self) -> None:
        while True:
            item = self._outbox.get()
            if item is _STOP:
                return
            try:
                self._publish(item)
            except Exception:
                log.exception("publish failed", extra={"topic": item.topic})
                self.metrics.errors.labels("mqtt:publish").inc()
                self._release(item)

    def _publish(self, out: Outgoing) -> None:
        waited = self.limiter.acquire()
        if waited:
            self.metrics.rate_limited.inc(waited)
        info = self.client.publish(out.topic, out.payload, qos=1, retain=out.retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            # NO_CONN: paho keeps QoS 1 messages and sends them on reconnect
            raise RuntimeError(f"publish returned {info.rc}")
        self.metrics.message("out", len(out.payload))
        self._release(out)

    def _release(self, out: Outgoing) -> None:
        tickets = list(out.tickets)
        done_request = False
        with self._lock:
            if out.key is not None and out.key in self._pending:
                first, *again = self._pending.pop(out.key)
                tickets.append(first)
                for dup in again:  # every delivery gets its answer: the same bytes again
                    self._outbox.put(Outgoing(out.topic, out.payload, tickets=[dup]))
                self._in_hand -= 1
                done_request = True
                self.metrics.in_hand.set(self._in_hand)
                self._idle.notify_all()
            generation = self._generation
        for t in tickets:
            if t.generation == generation:
                self._ack(t)
        if out.received and (done_request or out.tickets):
            self.metrics.latency.observe(time.perf_counter() - out.received)

    def _ack(self, ticket: Ticket) -> None:
        if ticket.qos > 0:
            self.client.ack(ticket.mid, ticket.qos)


def build_worker(config: WorkerConfig, *,
                 classifier_factory: Callable[..., Classifier] | None = None,
                 settings: BrokerSettings | None = None) -> CloudWorker:
    """Everything from a config: model, broker settings (AWS discovery), claim-check store."""
    from .aws import broker_settings, frame_store
    from .model import load_classifier

    factory = classifier_factory or load_classifier
    classifier = factory(config.model.path, config.model.num_threads)
    return CloudWorker(config, classifier, settings or broker_settings(config),
                       store=frame_store(config))
