"""The cloud worker: the MQTT shell around the pure core, the batcher and the model.

Every decision (admission, redelivery dedupe, which answer, when to ack, drain) is made
by the pure :class:`~.machine.WorkerCore`; this shell feeds it events with the time, under
one lock, and carries out the effects it returns. Threads and flow::

    paho network thread   on_message ─▶ core: decode, dedupe, admit ─▶ Prepare
    fetch pool            claim-check refs fetched, frames to pixels (prepare.py) ─▶ batcher
    batcher thread        model over the frames of requests arriving together ─▶ core
    outbox thread         rate-limited publish of each Publish ─▶ core: Sent ─▶ Ack(s)

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
from functools import partial
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt

from edgecascade.errors import CloudError
from edgecascade.mqtt import BrokerSettings, connect_properties, make_client
from edgecascade.mqtt import set_nodelay as nodelay
from edgecascade.protocol import CloudRequest, Topics

from . import core
from .batcher import BatcherClosed, Job, MicroBatcher, batch_settings
from .config import WorkerConfig
from .dedupe import ResponseCache
from .events import (
    Ack,
    Close,
    Connected,
    Count,
    Drain,
    Drained,
    Drop,
    Effect,
    Event,
    Key,
    Log,
    Message,
    ModelDone,
    Observe,
    Prepare,
    PrepareFailed,
    Publish,
    Sent,
    SetGauge,
    Subscribe,
    Ticket,
    Unsubscribe,
    Unsubscribed,
)
from .machine import CoreSettings, WorkerCore, read_message
from .metrics import WorkerMetrics
from .model import Classifier
from .model_swap import Running, ran_on, worker_swapper
from .prepare import FrameFetcher, prepare_item
from .ratelimit import RateLimiter

__all__ = ["CloudWorker", "FrameFetcher", "Ticket", "WorkerError", "build_worker",
           "set_nodelay"]

log = logging.getLogger("edgecascade.cloud.worker")


class WorkerError(CloudError, RuntimeError):
    """The worker could not start (broker refused, subscription refused, timeout)."""


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
        self.core = WorkerCore(CoreSettings(
            worker_id=config.worker_id, topics=config.topics, model_id=classifier.model_id,
            model_version=classifier.model_version, max_in_hand=config.limits.max_in_hand,
            dedupe_capacity=config.limits.dedupe_capacity, shared_group=config.shared_group))
        self.limiter = RateLimiter(config.limits.publish_per_second)
        self.filter = self.core.settings.filter
        self._lock = threading.Lock()  # guards self.core
        self._drained = threading.Event()  # set once the Drained effect was carried out
        self._subscribed = threading.Event()
        self._unsubscribed = threading.Event()
        self._connect_error: str | None = None  # fatal: refused by the broker
        self._last_failure: str | None = None  # why the last connection attempt failed
        self._stopping = threading.Event()
        self._outbox: queue.Queue[Any] = queue.Queue()
        info = getattr(classifier, "info", None)  # what runs the model (a fake may not say)
        batch = batch_settings(config.model.max_batch, config.model.max_delay_ms,
                               bool(info and info.on_gpu))
        if info is not None:
            self.metrics.set_backend(info.to_json())
        self._batcher = MicroBatcher(
            Running(classifier), max_batch=batch.max_batch,
            max_delay=batch.max_delay_ms / 1000.0, on_batch=self._on_batch,
            name=f"batcher-{self.worker_id}")
        self.swapper = worker_swapper(self)  # [model] path watched: a new file is swapped in
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

    @property
    def cache(self) -> ResponseCache:
        return self.core.cache

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
        self.swapper.start()
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
        info = getattr(self.classifier, "info", None)
        log.info("worker started" + (f": model {self.classifier.model_id} on "
                                     f"{info.describe()}" if info is not None else ""),
                 extra={"worker_id": self.worker_id, "filter": self.filter,
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
        connected = self.client.is_connected()
        self._step(Drain())  # unsubscribes when connected
        if connected:
            self._unsubscribed.wait(min(5.0, timeout))
        self._step(Unsubscribed())
        drained = self._drained.wait(max(0.0, deadline - time.monotonic()))
        left = self.in_hand
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
        self._step(Close())  # what is still in hand stays unacked: the broker redispatches it
        self._shutdown_threads(max(0.0, deadline - time.monotonic()))
        log.info("worker stopped", extra={"worker_id": self.worker_id, "drained": drained})
        return drained

    def _shutdown_threads(self, timeout: float) -> None:
        self.swapper.stop()
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
            return self.core.in_hand

    def _state_payload(self, online: bool) -> bytes:
        return self.core.state_payload(online, _ms())

    # -- the core and its effects ---------------------------------------------------------
    def _step(self, event: Event) -> None:
        with self._lock:
            effects = self.core.step(event, time.perf_counter(), _ms())
        for effect in effects:
            self._apply(effect)

    def _apply(self, effect: Effect) -> None:
        m = self.metrics
        if isinstance(effect, Publish):
            self._outbox.put(effect)
        elif isinstance(effect, Ack):
            self.client.ack(effect.mid, effect.qos)
        elif isinstance(effect, Count):
            getattr(m, effect.metric).labels(effect.label).inc(effect.amount)
        elif isinstance(effect, SetGauge):
            getattr(m, effect.metric).set(effect.value)
        elif isinstance(effect, Observe):
            getattr(m, effect.metric).observe(effect.value)
        elif isinstance(effect, Log):
            log.log(effect.level, effect.message, extra=dict(effect.fields))
        elif isinstance(effect, Prepare):
            if any(item.frame_ref is not None for item in effect.request.items):
                self._fetch_pool.submit(self._prepare_and_submit, effect.key, effect.request)
            else:
                self._prepare_and_submit(effect.key, effect.request)
        elif isinstance(effect, Subscribe):
            self.client.subscribe(effect.filter, qos=1)
        elif isinstance(effect, Unsubscribe):
            if self.client.is_connected():
                self.client.unsubscribe(effect.filter)
        elif isinstance(effect, Drained):  # after the acks of the same step: all are out
            self._drained.set()
        elif isinstance(effect, Drop) and effect.reason != "rejected":
            log.debug("not answered", extra={"reason": effect.reason, "topic": effect.topic})

    # -- paho callbacks (network thread) ----------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: Any, props: object = None) -> None:
        if reason.is_failure:
            self._connect_error = f"connection refused: {reason}"
            log.error("connection refused", extra={"reason": str(reason)})
            return
        set_nodelay(client)
        self.metrics.connected.set(1)
        log.info("connected", extra={"url": self.settings.url})
        self._step(Connected())  # a new ticket generation; subscribe; birth state

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
        self.metrics.message("in", len(msg.payload))
        try:
            # reading is pure and the slow part (msgpack): done before taking the core's lock
            self._step(read_message(self.topics, Message(msg.topic, bytes(msg.payload),
                                                         msg.mid, msg.qos)))
        except Exception:  # never let one request kill the network thread
            log.exception("request handling failed", extra={"topic": msg.topic[:200]})
            self.metrics.errors.labels("worker:internal").inc()

    # -- preparation (network thread, or the fetch pool for claim-check refs) ------------
    def _prepare_and_submit(self, key: Key, request: CloudRequest) -> None:
        try:
            inputs = tuple(prepare_item(item, self.classifier, self.store, self.metrics)
                           for item in request.items)
            self._batcher.submit(Job(core.stack_pixels(inputs),
                                     partial(self._finish, key, inputs)))
        except BatcherClosed:
            self._step(PrepareFailed(key, "worker shutting down"))
        except Exception:
            log.exception("request preparation failed")
            self.metrics.errors.labels("worker:internal").inc()
            self._step(PrepareFailed(key, "internal worker error"))

    def swap_model(self, path: str) -> bool:  # False: refused, the running model kept
        return self.swapper.swap(path)

    # -- completion (batcher thread) ------------------------------------------------------
    def _finish(self, key: Key, inputs: tuple[core.ItemInput, ...], probs: np.ndarray | None,
                error: BaseException | None) -> None:
        self._step(ModelDone(key, inputs, probs, error, ran_on(self._batcher.running)))

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
            self._step(Sent(item))  # releases (acks) what it answers, sent or not

    def _publish(self, out: Publish) -> None:
        waited = self.limiter.acquire()
        if waited:
            self.metrics.rate_limited.inc(waited)
        info = self.client.publish(out.topic, out.payload, qos=1, retain=out.retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            # NO_CONN: paho keeps QoS 1 messages and sends them on reconnect
            raise RuntimeError(f"publish returned {info.rc}")
        self.metrics.message("out", len(out.payload))


def build_worker(config: WorkerConfig, *,
                 classifier_factory: Callable[..., Classifier] | None = None,
                 settings: BrokerSettings | None = None) -> CloudWorker:
    """Everything from a config: model, broker settings (AWS discovery), claim-check store."""
    from .aws import broker_settings, frame_store
    from .model import classifier_loader

    factory = classifier_factory or classifier_loader(config.model)
    classifier = factory(config.model.path, config.model.num_threads)
    return CloudWorker(config, classifier, settings or broker_settings(config),
                       store=frame_store(config))
