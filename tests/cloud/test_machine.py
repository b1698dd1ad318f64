"""The worker's pure core under any interleaving (hypothesis): no broker, no threads, no clock.

A small simulated shell drives :class:`WorkerCore` with generated operations
(deliveries and redeliveries, garbage, spoofed gateways, batch completions, model
failures, unusable model output, failed preparations, publishes handed to the
connection, reconnects, a drain, a forced close) and keeps its own record of every
delivery. After each run it checks the guarantees in ``cloud/machine.py``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecascade.cloud import core
from edgecascade.cloud.events import (
    Ack,
    Close,
    Connected,
    Drain,
    Drained,
    Drop,
    Effect,
    Event,
    Key,
    Message,
    ModelDone,
    Prepare,
    PrepareFailed,
    Publish,
    Sent,
    Subscribe,
    Unsubscribe,
    Unsubscribed,
)
from edgecascade.cloud.machine import CoreSettings, WorkerCore, read_message
from edgecascade.protocol import CloudItem, CloudRequest, CloudResponse, Frame, Topics, decode
from edgecascade.protocol import encode as enc

TOPICS = Topics("t/v1")
PIXELS = np.zeros((2, 2), dtype=np.uint8)
FRAME = Frame(bytes(4), (2, 2))


def _request(cid: str, n: int, gateway: str = "gw1") -> CloudRequest:
    items = tuple(CloudItem("dev", 1, i, frame=FRAME) for i in range(n))
    return CloudRequest(cid, gateway, 1, 1000, items)


CATALOG = [_request(f"c{i}", 1 + i % 3) for i in range(4)]
SPOOFED = _request("spoof", 1, gateway="gw2")  # arrives on gw1's topic
GARBAGE = b"\x93garbage"
OUTCOMES = ("ok", "transient", "bad_shape", "model_error", "prepare_failed")

deliveries = st.one_of(st.integers(0, len(CATALOG) - 1).map(lambda i: ("deliver", i)),
                       st.sampled_from([("deliver", "spoof"), ("deliver", "garbage"),
                                        ("deliver", "wrong_topic")]))
operations = st.one_of(
    deliveries, deliveries,
    st.tuples(st.just("complete"), st.integers(0, 7), st.sampled_from(OUTCOMES), st.booleans()),
    st.tuples(st.just("send"), st.integers(0, 7)),
    st.just(("reconnect",)), st.just(("drain",)), st.just(("unsubscribed",)),
)


@dataclass
class Delivery:
    mid: int
    key: Key | None  # None: undecodable
    generation: int
    answers: list[bytes] = field(default_factory=list)
    acked: int = 0
    acked_before_answer: bool = False
    dropped: str | None = None


@dataclass
class Sim:
    """The shell, simulated: the outbox, the batcher, the connection and the record."""

    core: WorkerCore
    now: float = 0.0
    mids: int = 0
    outbox: list[Publish] = field(default_factory=list)
    preparing: list[Key] = field(default_factory=list)
    log: dict[int, Delivery] = field(default_factory=dict)
    waiting: dict[Key, list[int]] = field(default_factory=lambda: defaultdict(list))
    first_cacheable: dict[Key, bytes] = field(default_factory=dict)
    published_after_done: list[Publish] = field(default_factory=list)
    drained_seen: int = 0
    max_in_hand_seen: int = 0

    def step(self, event: Event) -> list[Effect]:
        self.now += 0.001
        done_before = self.core.done
        effects = self.core.step(event, self.now, 1_000 + int(self.now * 1000))
        self.max_in_hand_seen = max(self.max_in_hand_seen, self.core.in_hand)
        for e in effects:
            if isinstance(e, Publish):
                if e.retain:
                    assert isinstance(event, Connected)  # the birth state, nobody's answer
                elif done_before:
                    self.published_after_done.append(e)
                self.outbox.append(e)
            elif isinstance(e, Prepare):
                self.preparing.append(e.key)
            elif isinstance(e, Drained):
                self.drained_seen += 1
                # (`preparing` may hold duplicate completions still to come: those are ignored)
                assert not self.outbox and self.core.in_hand == 0, "drained with work left"
            else:
                assert isinstance(e, Ack | Drop | Subscribe | Unsubscribe) or type(e).__name__ in (
                    "Count", "SetGauge", "Observe", "Log")
        return effects

    # -- operations -----------------------------------------------------------------------
    def deliver(self, which: int | str) -> None:
        self.mids += 1
        mid = self.mids
        topic = TOPICS.cloud_request("gw1")
        if which == "garbage":
            payload, key = GARBAGE, None
        elif which == "wrong_topic":
            payload, key, topic = enc(CATALOG[0]), None, TOPICS.worker_state("gw1")
        elif which == "spoof":
            payload, key = enc(SPOOFED), ("gw1", "spoof")
        else:
            assert isinstance(which, int)
            payload, key = enc(CATALOG[which]), ("gw1", CATALOG[which].correlation_id)
        d = Delivery(mid, key, self.core.generation)
        self.log[mid] = d
        done = self.core.done
        msg = Message(topic, payload, mid, 1)
        # the shell reads outside its lock; either way the core must do the same
        effects = self.step(read_message(TOPICS, msg) if mid % 2 else msg)
        pubs = [e for e in effects if isinstance(e, Publish) and any(t.mid == mid
                                                                     for t in e.tickets)]
        drops = [e for e in effects if isinstance(e, Drop) and e.mid == mid]
        assert len(pubs) + len(drops) <= 1
        if drops:
            d.dropped = drops[0].reason
            assert drops[0].reason == ("rejected" if key is None and not done else
                                       "closed" if self.core.closed else "drained")
        elif not pubs:  # admitted, or joined the request already in hand
            assert key is not None and key[1] != "spoof"
            self.waiting[key].append(mid)
        self._check_acks(effects, answered=[])

    def complete(self, index: int, outcome: str, again: bool,
                 model: tuple[str, int] | None = None) -> None:
        if not self.preparing:
            return
        key = self.preparing[index % len(self.preparing)]
        if not again:  # `again`: a second completion for the same key (must be ignored)
            self.preparing.remove(key)
        request = next(r for r in CATALOG if r.correlation_id == key[1])
        n = len(request.items)
        inputs = tuple(core.ItemInput.ok(i, PIXELS) for i in request.items)
        probs: np.ndarray | None = np.full((n, 10), 0.1)
        error: BaseException | None = None
        if outcome == "prepare_failed":
            self.step(PrepareFailed(key, "worker shutting down"))
            return
        if outcome == "transient":
            inputs = (core.ItemInput.failed(request.items[0], "claim-check: 503",
                                            transient=True),) + inputs[1:]
            probs = np.full((n - 1, 10), 0.1) if n > 1 else None
        elif outcome == "bad_shape":
            probs = np.full((n + 1, 10), 0.1)
        elif outcome == "model_error":
            probs, error = None, RuntimeError("tensor arena exhausted")
        cacheable_before = key in self.first_cacheable
        effects = self.step(ModelDone(key, inputs, probs, error, model))
        for e in effects:
            if isinstance(e, Publish) and e.key == key and outcome == "ok" and \
                    not cacheable_before and self.core.settings.dedupe_capacity >= len(CATALOG):
                self.first_cacheable[key] = e.payload

    def send(self, index: int) -> None:
        if not self.outbox:
            return
        pub = self.outbox.pop(index % len(self.outbox))
        if pub.retain:  # the birth state: answers nobody, acks nothing
            assert not any(isinstance(e, Ack | Publish) for e in self.step(Sent(pub)))
            return
        answered = [t.mid for t in pub.tickets]
        if pub.key is not None and self.waiting.get(pub.key):
            first, *again = self.waiting.pop(pub.key)
            answered.append(first)
            effects = self.step(Sent(pub))
            dups = [e for e in effects if isinstance(e, Publish)]
            assert sorted(t.mid for e in dups for t in e.tickets) == sorted(again)
            assert all(e.payload == pub.payload for e in dups)  # same bytes for every delivery
        else:
            effects = self.step(Sent(pub))
        assert answered, "a response on the wire that answers no delivery"
        for mid in answered:
            self.log[mid].answers.append(pub.payload)
        self._check_acks(effects, answered)

    def _check_acks(self, effects: list[Effect], answered: list[int]) -> None:
        for e in effects:
            if isinstance(e, Ack):
                d = self.log[e.mid]
                d.acked += 1
                assert d.generation == self.core.generation
                assert e.mid in answered or d.dropped == "rejected", "acked before its answer"

    def run(self, op: tuple) -> None:
        if op[0] == "deliver":
            self.deliver(op[1])
        elif op[0] == "complete":
            self.complete(op[1], op[2], op[3])
        elif op[0] == "send":
            self.send(op[1])
        elif op[0] == "reconnect":
            self.step(Connected())
        elif op[0] == "drain":
            self.step(Drain())
        elif op[0] == "unsubscribed":
            self.step(Unsubscribed())

    def finish_drain(self) -> None:
        """What the shell's stop() does: drain, then let every batch and publish finish."""
        self.step(Drain())
        self.step(Unsubscribed())
        while self.preparing or self.outbox:
            if self.preparing:
                self.complete(0, "ok", False)
            if self.outbox:
                self.send(0)


def make_sim(max_in_hand: int, capacity: int) -> Sim:
    return Sim(WorkerCore(CoreSettings("wk1", TOPICS, "m", 1, max_in_hand=max_in_hand,
                                       dedupe_capacity=capacity)))


def online_sim(max_in_hand: int = 4, capacity: int = 64) -> Sim:
    """Connected, birth state sent: the outbox holds only answers from here on."""
    sim = make_sim(max_in_hand, capacity)
    sim.step(Connected())
    sim.send(0)
    assert not sim.outbox
    return sim


def check_answers(sim: Sim, *, complete: bool) -> None:
    for d in sim.log.values():
        if d.dropped:
            assert not d.answers
            assert d.acked == (1 if d.dropped == "rejected" else 0)
            continue
        if complete:
            assert len(d.answers) == 1, f"delivery {d.mid} ({d.key}) got {len(d.answers)} answers"
        else:
            assert len(d.answers) <= 1
            assert d.answers or not d.acked, "acked without an answer"
        assert d.acked <= 1
        for payload in d.answers:
            resp = decode(CloudResponse, payload)
            assert d.key is not None and resp.correlation_id == d.key[1]
            if d.key[1] == "spoof":
                assert resp.status == "error" and "gw2" in (resp.error or "")
    # redeliveries after a cacheable answer get exactly its bytes
    for key, first in sim.first_cacheable.items():
        later = [d for d in sim.log.values() if d.key == key and d.answers]
        at = next((i for i, d in enumerate(later) if d.answers[0] == first), None)
        assert at is not None or not complete  # a forced close may keep it from the wire
        assert all(d.answers[0] == first for d in later[at or 0:] if at is not None)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operations, max_size=60), max_in_hand=st.integers(1, 4),
       capacity=st.sampled_from([0, 1, 64]))
def test_every_delivery_gets_exactly_one_answer_and_nothing_after_the_drain(ops, max_in_hand,
                                                                            capacity):
    sim = make_sim(max_in_hand, capacity)
    sim.step(Connected())
    for op in ops:
        sim.run(op)
        assert sim.core.in_hand <= max_in_hand
    sim.finish_drain()
    assert sim.core.drained and sim.drained_seen == 1 and sim.core.in_hand == 0
    check_answers(sim, complete=True)
    # after the drain completes: late deliveries are dropped unacked, nothing is published
    late = sim.mids + 1
    effects = sim.step(Message(TOPICS.cloud_request("gw1"), enc(CATALOG[0]), late, 1))
    assert effects == [Drop("drained", TOPICS.cloud_request("gw1"), late)]
    assert not sim.published_after_done


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(operations, max_size=40), after=st.lists(operations, max_size=20))
def test_a_forced_close_answers_and_acks_nothing_more(before, after):
    sim = make_sim(2, 64)
    sim.step(Connected())
    for op in before:
        sim.run(op)
    in_hand = sim.core.in_hand
    sim.step(Close())
    queued = len(sim.outbox)
    for op in after:  # whatever still happens in the shell after it closed
        effects = []
        if op[0] == "deliver":
            sim.mids += 1
            effects = sim.step(Message(TOPICS.cloud_request("gw1"), enc(CATALOG[0]), sim.mids))
        elif op[0] == "complete" and sim.preparing:
            effects = sim.step(ModelDone(sim.preparing.pop(0), (), None, RuntimeError("x")))
        elif op[0] == "send" and sim.outbox:
            effects = sim.step(Sent(sim.outbox.pop(0)))
        assert not any(isinstance(e, Publish | Ack | Drained) for e in effects)
    assert len(sim.outbox) <= queued and sim.core.in_hand <= in_hand
    check_answers(sim, complete=False)


def test_a_redelivery_in_hand_waits_for_the_first_answer_and_gets_its_bytes():
    sim = online_sim(4)
    sim.deliver(0)
    sim.deliver(0)  # redelivered before the model finished: no second model run
    assert sim.preparing == [("gw1", "c0")]
    sim.complete(0, "ok", False)
    sim.send(0)
    sim.send(0)
    sim.deliver(0)  # after the answer: replayed from the cache
    sim.send(0)
    assert not sim.preparing
    a, b, c = (sim.log[m].answers for m in (1, 2, 3))
    assert a == b == c and len(a) == 1 and decode(CloudResponse, a[0]).status == "ok"


def test_an_answer_names_the_model_that_computed_its_batch():
    sim = online_sim(4)
    sim.deliver(0)
    sim.deliver(1)
    sim.complete(0, "ok", False, model=("mnist-cloud", 9))  # a batch run on a swapped-in v9
    sim.complete(0, "ok", False)  # no model named: the worker's configured one
    sim.send(0)
    sim.send(0)
    named = {r.correlation_id: (r.model_id, r.model_version) for r in
             (decode(CloudResponse, sim.log[m].answers[0]) for m in (1, 2))}
    s = sim.core.settings
    assert sorted(named.values()) == sorted([("mnist-cloud", 9), (s.model_id, s.model_version)])


@pytest.mark.parametrize("outcome, error", [
    ("model_error", "model error: tensor arena exhausted"),
    ("bad_shape", "model output unusable"),
    ("prepare_failed", "worker shutting down"),
])
def test_failures_are_error_answers_and_are_recomputed_on_redelivery(outcome, error):
    sim = online_sim(4)
    sim.deliver(1)
    sim.complete(0, outcome, False)
    sim.send(0)
    resp = decode(CloudResponse, sim.log[1].answers[0])
    assert resp.status == "error" and error in (resp.error or "") and resp.items == ()
    sim.deliver(1)
    assert sim.preparing == [("gw1", "c1")]  # not cached: tried again


def test_overload_is_an_error_answer_and_the_request_in_hand_is_unaffected():
    sim = online_sim(1)
    sim.deliver(0)
    sim.deliver(1)
    assert [decode(CloudResponse, p.payload).error for p in sim.outbox] == ["worker overloaded"]
    sim.send(0)
    sim.complete(0, "ok", False)
    sim.send(0)
    assert decode(CloudResponse, sim.log[1].answers[0]).status == "ok"
    assert sim.log[1].acked == sim.log[2].acked == 1


def test_acks_of_an_earlier_connection_are_not_sent_on_the_new_one():
    sim = online_sim(4)
    sim.deliver(0)
    sim.step(Connected())  # reconnected: the old delivery's ticket is void
    sim.complete(0, "ok", False)
    while sim.outbox:  # the new birth state and the answer
        sim.send(0)
    assert sim.log[1].answers and sim.log[1].acked == 0


def test_drain_waits_for_the_unsubscribe_and_the_requests_in_hand():
    sim = online_sim(4)
    sim.deliver(0)
    assert any(isinstance(e, Unsubscribe) for e in sim.step(Drain()))
    sim.deliver(1)  # still arriving before the broker confirmed: answered
    assert not any(isinstance(e, Drained) for e in sim.step(Unsubscribed()))
    assert not any(isinstance(e, Subscribe) for e in sim.step(Connected()))
    sim.finish_drain()
    assert sim.drained_seen == 1 and all(len(d.answers) == 1 for d in sim.log.values())
