"""The gateway's client of the cloud tier: spool in, request envelopes out, answers back.

Thin I/O shell around pure parts (:mod:`.packing`, :mod:`.pacing`, :mod:`.breaker`):

* :meth:`CloudClient.enqueue` refuses private frames (the privacy boundary, checked
  again here whatever the policy said) and writes the frame to the spool;
* one sender thread takes the oldest ready spooled frames, packs them into one
  :class:`CloudRequest` (<= 128 KB, <= ``max_items``; :mod:`.cloud_requests`), paces publishes under
  ``max_publish_per_s``, and tracks each request's deadline by correlation id;
* responses (on this gateway's response topic, own connection to the cloud broker)
  are matched by correlation id and must echo the request's nonce (:mod:`.cloud_outcomes`;
  a forged one, or one for a request not remembered, is counted ``rejected{reason=
  "cloud_response:nonce|unknown"}`` and dropped: its frames are sent again); each
  answer goes to ``on_answer`` and its frame leaves the spool. Late answers (after a
  timeout) are still used: they become corrections.
* a timeout or a lost connection feeds the circuit breaker; unanswered frames go back
  to the spool to be sent again (replayed in order when the link returns).
* a frame too large for a request goes by claim check (``frame_store.put``). A
  :class:`~edgecascade.protocol.claimcheck.ClaimCheckError` there is a failed escalation:
  ``enqueue`` reports the frame not stored (the gateway answers it locally), counts it
  (``claimcheck_errors{kind}``) and, when the error is transient, retries the put from
  the sender thread (:mod:`.claim_retries`: at most :data:`CLAIM_RETRY_ATTEMPTS` times,
  :data:`CLAIM_RETRY_MAX` frames at once); once stored, the cloud's answer arrives as a
  correction. A permanent error, or a transient one out of retries, is a counted drop
  (``spool_dropped{reason="claimcheck"}``).
* a spool write the state disk refuses (:class:`~.db.StorageError`) never breaks the
  loop: items are not sent until they can be marked in flight.

The connection's MQTT client id is ``client_id`` (config ``[cloud_broker] client_id``,
default the gateway id): AWS IoT Core's policy from ``edgecascade provision-aws``
requires it to equal the thing name.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

import paho.mqtt.client as mqtt

from edgecascade.errors import GatewayError
from edgecascade.mqtt import BrokerSettings, connect_properties, make_client
from edgecascade.protocol import (
    CloudResponse,
    Frame,
    ProtocolError,
    Topics,
    billed_messages,
    decode,
    encode,
)
from edgecascade.protocol.claimcheck import ClaimCheckError, FrameStore
from edgecascade.protocol.limits import MAX_SITE_PAYLOAD_BYTES

from .breaker import STATE_VALUE, BreakerState, CircuitBreaker
from .claim_retries import CLAIM_RETRY_ATTEMPTS, CLAIM_RETRY_MAX, ClaimRetries
from .cloud_outcomes import CloudOutcome, SentRequest, match_response, take_request
from .cloud_requests import build_request, claim_name, inline_item, ref_item
from .config_sections import CloudConfig
from .db import StorageError
from .metrics import GatewayMetrics
from .pacing import BudgetMeter, publish_window
from .packing import ITEMS_BUDGET
from .spool import Key, PutResult, Spool

__all__ = ["CLAIM_RETRY_ATTEMPTS", "CLAIM_RETRY_MAX", "RECENT_REQUESTS", "CloudClient",
           "CloudOutcome", "PrivacyViolation"]

log = logging.getLogger("edgecascade.gateway.cloud")

RECENT_REQUESTS = 4096  # correlation ids remembered after they left flight (late answers)


class PrivacyViolation(GatewayError, RuntimeError):
    """A private frame reached the cloud boundary. It is refused, never sent."""


class CloudClient:
    def __init__(
        self,
        *,
        settings: BrokerSettings,
        topics: Topics,
        gateway_id: str,
        cfg: CloudConfig,
        spool: Spool,
        metrics: GatewayMetrics,
        on_answer: Callable[[CloudOutcome], None],
        frame_store: FrameStore | None = None,
        clock: Callable[[], float] = time.time,
        client_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.gateway_id = gateway_id
        self.cfg = cfg
        self.spool = spool
        self.metrics = metrics
        self.on_answer = on_answer
        self.frame_store = frame_store
        self.clock = clock
        self.breaker = CircuitBreaker(cfg.breaker_failures, cfg.breaker_reset_s)
        self.budget = BudgetMeter(cfg.budget_window_s)
        self.pacer = publish_window(cfg.max_publish_per_s)
        self._cond = threading.Condition()
        self._in_flight: dict[str, SentRequest] = {}
        self._recent: OrderedDict[str, SentRequest] = OrderedDict()
        self._connected = False
        self._stopping = False
        self._first_waiting: float | None = None
        self._claim_retries = ClaimRetries(cfg.retry_s)
        self._thread = threading.Thread(target=self._loop, name="gw-cloud", daemon=True)
        self.client_id = client_id or gateway_id
        self.client = make_client(settings, self.client_id, clean_start=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        self.client.connect_async(self.settings.host, self.settings.port,
                                  keepalive=self.settings.keepalive,
                                  **connect_properties(self.settings, True))  # type: ignore[arg-type]
        self.client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()

    def wait_connected(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._connected, timeout)

    @property
    def connected(self) -> bool:
        return self._connected

    def state(self) -> BreakerState:
        """The breaker state; OPEN while there is no connection at all."""
        with self._cond:
            if not self._connected:
                return BreakerState.OPEN
            return self.breaker.state(self.clock())

    def spent(self) -> float:
        with self._cond:
            return self.budget.spent(self.clock())

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # -- the privacy boundary and the spool ------------------------------------------
    def enqueue(self, key: Key, frame: Frame, private: bool, value: float) -> PutResult:
        """Spool one frame for the cloud. Raises :class:`PrivacyViolation` for private frames."""
        if private:
            self.metrics.inc("privacy_blocked")
            raise PrivacyViolation(f"frame {key} is private and may not leave the site")
        data = inline_item(key, frame)
        if data is None:
            if self.frame_store is None:
                return PutResult(False, dropped=[key], too_large=True)
            try:
                data = self._claim_check(key, frame)
            except ClaimCheckError as exc:
                return self._claim_failed(key, frame, value, exc, attempts=1)
        result = self.spool.put(key, data, value)
        with self._cond:
            if self._first_waiting is None:
                self._first_waiting = self.clock()
            self._cond.notify_all()
        return result

    def _claim_check(self, key: Key, frame: Frame) -> bytes:
        """Put the frame in the claim-check store; the spooled item carries its ref."""
        assert self.frame_store is not None
        return ref_item(key, self.frame_store.put(claim_name(self.gateway_id, key),
                                                  encode(frame, MAX_SITE_PAYLOAD_BYTES)))

    def _claim_failed(self, key: Key, frame: Frame, value: float, exc: ClaimCheckError,
                      attempts: int) -> PutResult:
        """A failed claim-check put: counted; retried later when transient (not stored
        now either way: the gateway answers the frame locally)."""
        kind = "transient" if exc.transient else "permanent"
        self.metrics.inc("claimcheck_errors", kind=kind)
        with self._cond:
            retry = self._claim_retries.offer(key, frame, value, attempts=attempts,
                                              transient=exc.transient, now=self.clock())
            if retry:
                self._cond.notify_all()
        log.warning("claim-check put failed", extra={
            "frame": f"{key[0]}/{key[1]}/{key[2]}", "kind": kind, "why": exc.why[:200],
            "attempts": attempts, "retry": retry})
        if retry:
            return PutResult(False, reason="claimcheck_retry")
        self.metrics.inc("spool_dropped", reason="claimcheck")
        return PutResult(False, reason="claimcheck")

    def _retry_claim_checks(self, now: float) -> None:
        """Runs on the sender thread, outside the lock (the put is network I/O)."""
        with self._cond:
            due = self._claim_retries.take_due(now)
        for r in due:
            try:
                data = self._claim_check(r.key, r.frame)
            except ClaimCheckError as exc:
                self._claim_failed(r.key, r.frame, r.value, exc, r.attempts + 1)
                continue
            res = self.spool.put(r.key, data, r.value)
            for key in res.dropped:
                self.metrics.inc("spool_dropped", reason=res.reason)
                log.warning("spooled frame dropped", extra={
                    "frame": f"{key[0]}/{key[1]}/{key[2]}", "reason": res.reason})
            if res.stored:
                with self._cond:
                    if self._first_waiting is None:
                        self._first_waiting = self.clock()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- MQTT callbacks -----------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object,
                    props: object = None) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("cloud broker refused connection", extra={"rc": str(rc)})
            return
        client.subscribe(self.topics.cloud_response(self.gateway_id), qos=1)
        with self._cond:
            self._connected = True
            self.breaker.on_link_up(self.clock())
            self._cond.notify_all()
        log.info("cloud link up", extra={"broker": self.settings.url})

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, rc: object,
                       props: object = None) -> None:
        now = self.clock()
        with self._cond:
            self._connected = False
            self.breaker.on_link_down(now)
            for corr, req in list(self._in_flight.items()):
                self._retire(corr, req)
            released = self.spool.release_all(now)
        level = logging.INFO if self._stopping else logging.WARNING
        log.log(level, "cloud link down", extra={"released": released, "rc": str(rc)})

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            self._handle_response(bytes(msg.payload))
        except Exception:  # never let one answer kill the network thread
            log.exception("cloud response handling failed")

    def _handle_response(self, payload: bytes) -> None:
        try:
            resp = decode(CloudResponse, payload)
        except ProtocolError as exc:
            self.metrics.inc("rejected", reason=exc.reason)
            log.warning("bad cloud response", extra={"what": exc.what, "where": exc.where,
                                                     "why": exc.why})
            return
        now = self.clock()
        with self._cond:
            req = take_request(resp, self._in_flight, self._recent)
            if isinstance(req, str):  # forged or unknown: counted, dropped, the request waits
                self.metrics.inc("rejected", reason=req)
                return
            self.breaker.on_success(now)
            self.budget.add(now, billed_messages(len(payload)))
        self.metrics.inc("cloud_cost", billed_messages(len(payload)))
        self.metrics.inc("cloud_responses", status=resp.status)
        outcomes, missing = match_response(resp, len(payload), req)
        for outcome in outcomes:
            self.spool.remove([outcome.answer.key])
            self.on_answer(outcome)
        if missing:  # the worker left some out: they are still owed, send them again
            self.spool.release_keys(missing, now + self.cfg.retry_s)
        with self._cond:
            self._cond.notify_all()

    def _retire(self, corr: str, req: SentRequest) -> None:
        self._in_flight.pop(corr, None)
        self._recent[corr] = req
        while len(self._recent) > RECENT_REQUESTS:
            self._recent.popitem(last=False)

    # -- sender -------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._cond.wait(self._next_wake())
                if self._stopping:
                    return
            try:
                now = self.clock()
                self._expire(now)
                if self._claim_retries:
                    self._retry_claim_checks(now)
                self._send_ready()
                self.metrics.set("cloud_in_flight", len(self._in_flight))
                self.metrics.set("circuit_state", STATE_VALUE[self.state()])
                self.metrics.set("spool_depth", self.spool.depth)
                self.metrics.set("spool_bytes", self.spool.used_bytes)
                self.metrics.set("budget_spent", self.spent())
            except Exception:
                log.exception("cloud sender step failed")
                time.sleep(0.1)

    def _next_wake(self) -> float:
        now = self.clock()
        waits = [0.25]
        if self._in_flight:
            waits.append(min(r.deadline for r in self._in_flight.values()) - now)
        if self._first_waiting is not None:
            waits.append(self._first_waiting + self.cfg.max_delay_ms / 1000 - now)
        claim_due = self._claim_retries.next_due()
        if claim_due is not None:
            waits.append(claim_due - now)
        return max(0.0, min(waits))

    def _expire(self, now: float) -> None:
        with self._cond:
            for corr, req in list(self._in_flight.items()):
                if now >= req.deadline:
                    self._retire(corr, req)
                    self.spool.release(corr, now + self.cfg.retry_s)
                    self.breaker.on_failure(now)
                    self.metrics.inc("cloud_timeouts")
                    log.warning("cloud request timed out",
                                extra={"correlation_id": corr, "items": len(req.items)})

    def _send_ready(self) -> None:
        while True:
            now = self.clock()
            with self._cond:
                if self._stopping:
                    return
                if not self._connected or len(self._in_flight) >= self.cfg.max_in_flight:
                    self._first_waiting = None  # blocked: woken by the link or an answer
                    return
                first = self._first_waiting
                batch = self.spool.next_batch(self.cfg.max_items, ITEMS_BUDGET, now)
                young = first is not None and now - first < self.cfg.max_delay_ms / 1000
                if young and len(batch) < self.cfg.max_items:
                    return  # wait a little for more frames, unless a full request is ready
                if not batch:
                    self._first_waiting = None
                    return
                wait = self.pacer.peek(now)
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                # Blocked below: frames wait in the spool; polled, not spun on.
                if self.budget.spent(now) >= self.cfg.budget_messages:
                    self._first_waiting = None
                    return  # the budget is a hard limit here too
                if not self.breaker.allow(now):
                    self._first_waiting = None
                    return
                packed = build_request(batch, correlation_id=uuid.uuid4().hex,
                                       gateway_id=self.gateway_id, now=now,
                                       deadline_ms=self.cfg.deadline_ms,
                                       max_items=self.cfg.max_items, nonce=os.urandom(16))
                request, payload, chosen = packed.request, packed.payload, packed.chosen
                try:  # in flight before it can be answered; a refused write sends nothing
                    self.spool.mark_inflight([b.id for b in chosen], request.correlation_id)
                except StorageError:
                    self.breaker.unsent()
                    self._first_waiting = None
                    return  # the items wait in the spool until the disk takes writes
                info = self.client.publish(self.topics.cloud_request(self.gateway_id), payload,
                                           qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    self.spool.release(request.correlation_id, now)
                    self.breaker.on_failure(now)
                    return
                self.pacer.take(now)
                self._in_flight[request.correlation_id] = SentRequest(
                    {it.key: it for it in request.items}, len(payload),
                    now + self.cfg.deadline_ms / 1000, request.nonce)
                billed = billed_messages(len(payload))
                self.budget.add(now, billed)
                self._first_waiting = None
            self.metrics.inc("cloud_requests")
            self.metrics.inc("cloud_items", len(chosen))
            self.metrics.inc("cloud_cost", billed)
