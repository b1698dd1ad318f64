"""The cloud worker's request lifecycle as a pure core: events in, effects out. No I/O.

:class:`WorkerCore` owns admission, redelivery dedupe, in-hand accounting, the
response for every outcome (answer, model error, unusable output, overload,
spoofed gateway, shutting down) and drain. It never reads a clock, touches a socket,
a thread or the model: the shell (:mod:`.worker`) passes each event with the time
and carries out the effects (see :mod:`.events`). Building one response from model
output is :mod:`.core`'s job; this module decides *which* response and *when*.

Guarantees (the property tests in ``tests/cloud/test_machine.py`` check them):

* every delivery of a decodable request is answered by exactly one :class:`Publish`
  that names it (``key`` or ``tickets``) and is acked only after that publish was
  reported :class:`Sent`; an undecodable delivery is acked and dropped (``rejected``);
* a redelivery while the request is in hand is answered with the same bytes when the
  first answer is sent; a redelivery after a cacheable answer gets those bytes again;
* at most ``max_in_hand`` requests are in hand; beyond it, an "overloaded" error;
* after :class:`Drain` and :class:`Unsubscribed`, once nothing is in hand and every
  publish it asked for was reported :class:`Sent`, the core emits :class:`Drained`; from
  then on (and after :class:`Close`) nothing more is published or acked: late
  deliveries are dropped unacked for the broker to redispatch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from edgecascade import __version__
from edgecascade.protocol import (
    CloudRequest,
    CloudResponse,
    ProtocolError,
    ServiceState,
    TopicKind,
    Topics,
    decode,
    encode,
)

from . import core
from .dedupe import ResponseCache
from .events import (
    Ack,
    Close,
    Connected,
    Count,
    Decoded,
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
    Undecodable,
    Unsubscribe,
    Unsubscribed,
)


def read_message(topics: Topics, msg: Message) -> Decoded | Undecodable:
    """Read one delivery as a cloud request. Pure and stateless (no lock needed)."""
    try:
        parsed = topics.parse(msg.topic)
        if parsed.kind is not TopicKind.CLOUD_REQUEST:
            raise ProtocolError("topic", "", f"{parsed.kind.value} is not a cloud request")
        return Decoded(msg, parsed.id, decode(CloudRequest, msg.payload))
    except ProtocolError as exc:
        return Undecodable(msg, exc)


@dataclass(frozen=True)
class CoreSettings:
    worker_id: str
    topics: Topics
    model_id: str
    model_version: int
    max_in_hand: int
    dedupe_capacity: int
    shared_group: str = ""
    version: str = __version__

    @property
    def filter(self) -> str:
        return self.topics.filter(TopicKind.CLOUD_REQUEST, shared_group=self.shared_group or None)


@dataclass
class _Pending:
    request: CloudRequest
    tickets: list[Ticket]
    received: float
    answered: bool = False  # its Publish is out; a second completion is ignored


@dataclass
class WorkerCore:
    """Not thread-safe: the shell calls :meth:`step` under one lock."""

    settings: CoreSettings
    generation: int = 0
    draining: bool = False
    unsubscribed: bool = False
    drained: bool = False
    closed: bool = False
    cache: ResponseCache = field(init=False)
    _pending: dict[Key, _Pending] = field(default_factory=dict, init=False)
    _unsent: int = field(default=0, init=False)  # Publish effects not yet reported Sent

    def __post_init__(self) -> None:
        self.cache = ResponseCache(self.settings.dedupe_capacity)

    @property
    def in_hand(self) -> int:
        return len(self._pending)

    @property
    def done(self) -> bool:
        """No more answers will be published (drained or closed)."""
        return self.drained or self.closed

    def state_payload(self, online: bool, ts_ms: int) -> bytes:
        s = self.settings
        return encode(ServiceState(s.worker_id, online, ts_ms, version=s.version,
                                   model_id=s.model_id))

    def step(self, event: Event, now: float, ts_ms: int) -> list[Effect]:
        """Apply one event at ``now`` (monotonic seconds; ``ts_ms``: wall clock ms)."""
        out: list[Effect] = []
        if isinstance(event, Message):
            event = read_message(self.settings.topics, event)
        if isinstance(event, Decoded | Undecodable):
            self._on_message(event, now, ts_ms, out)
        elif isinstance(event, ModelDone):
            self._on_model_done(event, now, ts_ms, out)
        elif isinstance(event, PrepareFailed):
            self._fail_pending(event.key, event.why, now, ts_ms, out)
        elif isinstance(event, Sent):
            self._unsent -= 1
            self._on_sent(event.publish, now, out)
        elif isinstance(event, Connected):
            self.generation += 1
            if not self.draining:
                out.append(Subscribe(self.settings.filter))
            out.append(Publish(self.settings.topics.worker_state(self.settings.worker_id),
                               self.state_payload(True, ts_ms), retain=True))
        elif isinstance(event, Drain):
            if not self.draining:
                self.draining = True
                out.append(Unsubscribe(self.settings.filter))
        elif isinstance(event, Unsubscribed):
            self.unsubscribed = True
        elif isinstance(event, Close):
            self.closed = True
        self._unsent += sum(1 for e in out if isinstance(e, Publish))
        self._check_drained(out)
        if self.closed:  # a closed core may only account, never answer or ack
            out = [e if not isinstance(e, Publish | Ack) else _dropped(e) for e in out]
        return out

    # -- admission ------------------------------------------------------------------------
    def _on_message(self, event: Decoded | Undecodable, now: float, ts_ms: int,
                    out: list[Effect]) -> None:
        msg = event.message
        ticket = Ticket(self.generation, msg.mid, msg.qos)
        if self.done:
            out.append(Drop("closed" if self.closed else "drained", msg.topic, msg.mid))
            return
        if isinstance(event, Undecodable):
            exc = event.error
            out += [Count("requests", "rejected"), Count("errors", exc.reason),
                    Log(logging.WARNING, "rejected cloud request", {
                        "topic": msg.topic[:200], "what": exc.what, "where": exc.where,
                        "why": exc.why}),
                    Drop("rejected", msg.topic, msg.mid)]
            self._ack([ticket], out)
            return
        request = event.request
        try:
            self._admit(event.gateway_id, request, ticket, now, ts_ms, out)
        except Exception as bug:  # a bug here must still answer the delivery
            out += [Log(logging.ERROR, "request handling failed", {
                        "correlation_id": request.correlation_id, "error": repr(bug)[:200]}),
                    Count("errors", "worker:internal")]
            self._reply_error(event.gateway_id, request, "internal worker error",
                              (ticket,), now, ts_ms, out)

    def _admit(self, gateway_id: str, request: CloudRequest, ticket: Ticket, now: float,
               ts_ms: int, out: list[Effect]) -> None:
        cid = request.correlation_id
        if request.gateway_id != gateway_id:
            out.append(Count("errors", "request:gateway_id"))
            self._reply_error(gateway_id, request, f"request names gateway {request.gateway_id!r} "
                              f"but came on the topic of {gateway_id!r}", (ticket,), now, ts_ms,
                              out)
            return
        key = (gateway_id, cid)
        cached = self.cache.get(key)
        if cached is not None:
            out += [Count("requests", "duplicate"),
                    Publish(self.settings.topics.cloud_response(gateway_id), cached,
                            tickets=(ticket,), received=now)]
            return
        pending = self._pending.get(key)
        if pending is not None:  # redelivered while in hand: answered when it is done
            pending.tickets.append(ticket)
            out.append(Count("requests", "duplicate"))
            return
        if len(self._pending) >= self.settings.max_in_hand:
            out.append(Count("errors", "worker:overloaded"))
            self._reply_error(gateway_id, request, "worker overloaded", (ticket,), now, ts_ms, out)
            return
        self._pending[key] = _Pending(request, [ticket], now)
        out += [SetGauge("in_hand", len(self._pending)), Prepare(key, request)]

    # -- completion -----------------------------------------------------------------------
    def _on_model_done(self, done: ModelDone, now: float, ts_ms: int, out: list[Effect]) -> None:
        pending = self._pending.get(done.key)
        if pending is None or pending.answered:  # not ours (any more): nothing to answer
            return
        try:
            self._answer(done, pending, now, ts_ms, out)
        except Exception as exc:  # never leave an admitted request unanswered
            out += [Log(logging.ERROR, "building the response failed", {
                        "correlation_id": pending.request.correlation_id,
                        "error": repr(exc)[:200]}),
                    Count("errors", "worker:internal")]
            self._fail_pending(done.key, "internal worker error", now, ts_ms, out)

    def _answer(self, done: ModelDone, pending: _Pending, now: float, ts_ms: int,
                out: list[Effect]) -> None:
        s = self.settings
        request = pending.request
        worker_ms = (now - pending.received) * 1000.0
        effects: list[Effect] = []
        response: CloudResponse
        cacheable = False
        if done.error is not None:
            effects += [Count("errors", "model:error"),
                        Log(logging.ERROR, "model failed", {
                            "correlation_id": request.correlation_id,
                            "error": str(done.error)[:200]})]
            response = self._error(request, f"model error: {done.error}", worker_ms, ts_ms)
        else:
            try:
                items = core.answers(done.inputs, done.probs)
                model_id, model_version = done.model or (s.model_id, s.model_version)
                response = core.ok_response(  # named by the model that computed it
                    request, worker_id=s.worker_id, model_id=model_id,
                    model_version=model_version, items=items, worker_ms=worker_ms,
                    ts_ms=ts_ms)
                cacheable = core.cacheable(done.inputs)
            except (ValueError, ProtocolError) as exc:
                effects.append(Count("errors", "model:output"))
                response = self._error(request, f"model output unusable: {exc}", worker_ms,
                                       ts_ms)
        payload = encode(response)
        if cacheable:
            self.cache.put(done.key, payload)
            effects.append(SetGauge("dedupe_evictions", self.cache.evictions))
        answered = sum(1 for a in response.items if a.error is None)
        effects += [
            Count("frames", "answered", answered),
            Count("frames", "error", len(request.items) - answered),
            Count("requests", response.status),
            Log(logging.DEBUG, "answered", {
                "correlation_id": request.correlation_id, "gateway_id": done.key[0],
                "status": response.status, "items": len(request.items), "answered": answered,
                "worker_ms": round(worker_ms, 2), "cached": cacheable}),
            Publish(s.topics.cloud_response(done.key[0]), payload, key=done.key,
                    received=pending.received)]
        pending.answered = True
        out += effects  # only once the whole answer was built

    def _fail_pending(self, key: Key, why: str, now: float, ts_ms: int,
                      out: list[Effect]) -> None:
        """Answer an admitted request with an error (its deliveries are acked on Sent)."""
        pending = self._pending.get(key)
        if pending is None or pending.answered:
            return
        pending.answered = True
        out += [Count("requests", "error"),
                Publish(self.settings.topics.cloud_response(key[0]),
                        encode(self._error(pending.request, why,
                                           (now - pending.received) * 1000.0, ts_ms)),
                        key=key, received=pending.received)]

    def _reply_error(self, gateway_id: str, request: CloudRequest, why: str,
                     tickets: tuple[Ticket, ...], now: float, ts_ms: int,
                     out: list[Effect]) -> None:
        out += [Count("requests", "error"),
                Publish(self.settings.topics.cloud_response(gateway_id),
                        encode(self._error(request, why, 0.0, ts_ms)), tickets=tickets,
                        received=now)]

    def _error(self, request: CloudRequest, why: str, worker_ms: float,
               ts_ms: int) -> CloudResponse:
        """An error answer to ``request`` (its correlation id and nonce echoed)."""
        s = self.settings
        return core.error_response(request.correlation_id, why, worker_id=s.worker_id,
                                   model_id=s.model_id, model_version=s.model_version,
                                   worker_ms=worker_ms, ts_ms=ts_ms, nonce=request.nonce)

    # -- release ----------------------------------------------------------------------------
    def _on_sent(self, pub: Publish, now: float, out: list[Effect]) -> None:
        tickets = list(pub.tickets)
        done_request = False
        if pub.key is not None and pub.key in self._pending:
            first, *again = self._pending.pop(pub.key).tickets
            tickets.append(first)
            for dup in again:  # every delivery gets its answer: the same bytes again
                out.append(Publish(pub.topic, pub.payload, tickets=(dup,)))
            done_request = True
            out.append(SetGauge("in_hand", len(self._pending)))
        self._ack(tickets, out)
        if pub.received and (done_request or pub.tickets):
            out.append(Observe("latency", now - pub.received))

    def _ack(self, tickets: list[Ticket], out: list[Effect]) -> None:
        out += [Ack(t.mid, t.qos) for t in tickets
                if t.generation == self.generation and t.qos > 0]

    def _check_drained(self, out: list[Effect]) -> None:
        if (self.draining and self.unsubscribed and not self._pending and not self._unsent
                and not self.drained and not self.closed):
            self.drained = True
            out.append(Drained())


def _dropped(effect: Publish | Ack) -> Drop:
    if isinstance(effect, Publish):
        return Drop("closed", effect.topic)
    return Drop("closed", "", effect.mid)
