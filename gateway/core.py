"""The frame lifecycle as a pure core: admission, dedupe, waiters, deadlines, corrections.

No I/O, no clocks, no threads (the sans-I/O style of ``protocol/`` and :mod:`.policy`).
Every entry point takes the time (:class:`Now`) and what the shell read from its stores,
and returns the effects to carry out as frozen values; :mod:`.service` is the shell that
executes them (paho, SQLite, the batcher, the cloud client) and feeds outcomes back.

Entry points (events) and what they may return::

    arrive(now, [Arrival, ...])          -> AdmitFinal | AdmitPending | (route effects)
    final_result(now, AdmitFinal)        -> the Result it stores (pure, any thread)
    admitted(now, [Admitted, ...])       -> Emit | Remember | (route effects) | Count | Log
    edge_done(now, job, EdgeOutcome)     -> route effects
    edge_refused(now, job, snap, last)   -> route effects            (the batcher was full)
    spooled(now, key, unspooled)         -> Emit | Count             (the escalation's spool)
    cloud_answer(now, CloudReply, state) -> Emit | Remember | Count | Log
    tick(now) / expire_all(now)          -> Emit | Count             (deadlines, stop)

    route effects: SubmitEdge, Spool, Emit, Remember, Count, Gauge

Admission is batch-shaped: :meth:`FrameCore.arrive` takes any number of reports and
returns one ``Admit*`` effect per report that needs the ledger; the shell runs them (it
may run them all in one SQLite transaction), hands every outcome back in one
:meth:`FrameCore.admitted` call, executes what that returns and only then acknowledges
the reports (PUBACK). A later group commit changes the shell only.

**Dedupe** has two layers. The core knows the frames *in hand* (admitted, not yet finally
answered) and treats a second report for one of them as a duplicate without asking
anyone. Everything older -- finished frames, frames from before a restart -- is the
SQLite ledger's job: the core asks for it with an ``Admit*`` effect and is told the
outcome (:class:`Admitted`: ``existing`` is the ledger's state, None when new), and a
cloud answer without a waiter comes with the ledger's state of its frame. So the ledger
stays the one durable fact, and the core stays a pure function of its inputs that tests
drive with the real ledger or with a plain dict.

**Invariant**: at most one final (revision 0) answer per frame, and at most one cloud
correction per frame, always after its final. A revision-0 :class:`Emit` is produced only
for a frame in hand, which leaves the hand at that moment; a correction only when the
ledger says the frame was finally answered and has no cloud answer yet (``cloud_done``).
After a restart, the shell re-arrives the ledger's pending frames (``payload=None``) and
republishes its unsent results; those are the same bytes, so the wire stays idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from edgecascade.protocol import Reason, Report, Result, Tier
from edgecascade.protocol.audit import audit_pick

from . import policy
from .answers import device_answer, make_result
from .cache import Answer
from .effects import (
    AdmitFinal,
    AdmitPending,
    Admitted,
    Arrival,
    AuditCloud,
    CloudReply,
    CoreConfig,
    Count,
    EdgeOutcome,
    Effect,
    Emit,
    FrameJob,
    Gauge,
    Log,
    Now,
    Remember,
    Spool,
    SubmitEdge,
    frame_id,
)
from .fallback import measured_fallback
from .frame_state import FrameState, Key, Status
from .policy import Action, Decision, Snapshot
from .waiters import Waiter, Waiters


def needs_lookup(report: Report, snapshot: Snapshot) -> bool:
    """Whether the decision may need the cache (``Arrival.cached`` and ``.last``)."""
    return report.frame is not None and \
        policy.device_escalation(report, snapshot.thresholds) is not None


def _count(metric: str, **labels: str) -> Count:
    return Count(metric, tuple(labels.items()))


@dataclass(frozen=True)
class _Admitting:
    job: FrameJob
    decision: Decision
    answer: Answer | None  # the device tier's answer, when it is final at once
    cached: Answer | None = None
    last: Answer | None = None


class FrameCore:
    """The state of the frames in hand. Not thread-safe: the shell serialises calls."""

    def __init__(self, cfg: CoreConfig) -> None:
        self.cfg = cfg
        self.cloud_rtt_ms = 200.0  # moving average of escalation round trips
        self._hand: dict[Key, FrameJob] = {}  # admitted, not finally answered, not waiting
        self._admitting: dict[Key, _Admitting] = {}  # asked the ledger, no answer yet
        self._waiters = Waiters()  # escalated: waiting for the cloud, with deadlines

    # -- views -------------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        """Frames waiting for a cloud answer."""
        return len(self._waiters)

    def is_waiting(self, key: Key) -> bool:
        """The frame waits for a cloud answer (else a cloud answer needs the ledger's state)."""
        return key in self._waiters

    def holds(self, key: Key) -> bool:
        """The frame is in hand: admitted (or being admitted), not yet finally answered."""
        return key in self._hand or key in self._waiters or key in self._admitting

    def next_deadline(self) -> float | None:
        return self._waiters.next_deadline()

    # -- admission ---------------------------------------------------------------------
    def arrive(self, now: Now, arrivals: Sequence[Arrival]) -> list[Effect]:
        out: list[Effect] = []
        to_edge = 0  # frames of this batch sent to the edge queue ahead of the next one
        for a in arrivals:
            report = a.report
            key = report.key
            job = FrameJob(report, a.received, a.received_ms,
                           policy.device_escalation(report, a.snapshot.thresholds), a.pixels)
            snap = a.snapshot
            if to_edge:
                snap = replace(snap, edge_queue_depth=snap.edge_queue_depth + to_edge)
            if job.escalation is not None and report.frame is not None:  # else: device answer
                snap = replace(snap, elapsed_ms=job.latency_ms(now), cached=a.cached is not None)
            decision = policy.decide(report, snap)
            out.append(_count("decisions", action=decision.action.value,
                              reason=decision.reason.value))
            if self.holds(key):  # a redelivery, or a recovered frame already in hand
                self._duplicate(out, key, Status.PENDING)
                continue
            to_edge += decision.action is Action.EDGE
            if decision.action is Action.ACCEPT_DEVICE:
                answer = device_answer(report, job.received_ms)
                if a.payload is None:
                    out.append(Emit(self._result(now, job, answer, decision.reason,
                                                 escalation=decision.escalation)))
                    self._confident(out, job, decision, answer)
                else:
                    self._admitting[key] = _Admitting(job, decision, answer)
                    out.append(AdmitFinal(key, job.received_ms, job, answer, decision.reason,
                                          decision.escalation))
            elif a.payload is None:
                self._hand[key] = job
                self._route(now, out, job, decision, a.cached, a.last)
            else:
                self._admitting[key] = _Admitting(job, decision, None, a.cached, a.last)
                out.append(AdmitPending(key, a.payload, job.received_ms))
        return out

    def final_result(self, now: Now, ask: AdmitFinal) -> Result:
        """The result an :class:`AdmitFinal` stores, built when the ledger asks for it
        (inside its dedupe transaction, so the latency covers it). Reads nothing but the
        effect and the (immutable) config: safe to call without the shell's lock."""
        return self._result(now, ask.job, ask.answer, ask.reason, escalation=ask.escalation)

    def admitted(self, now: Now, outcomes: Sequence[Admitted]) -> list[Effect]:
        out: list[Effect] = []
        for o in outcomes:
            a = self._admitting.pop(o.key, None)
            if a is None:
                continue
            if o.existing is not None:
                self._duplicate(out, o.key, o.existing.status)
            elif a.answer is not None:
                result = o.result or self._result(now, a.job, a.answer, a.decision.reason,
                                                  escalation=a.decision.escalation)
                out.append(Emit(result, record=False))
                self._confident(out, a.job, a.decision, a.answer)
            else:
                self._hand[o.key] = a.job
                self._route(now, out, a.job, a.decision, a.cached, a.last)
        return out

    def _confident(self, out: list[Effect], job: FrameJob, decision: Decision,
                   answer: Answer) -> None:
        if decision.reason is Reason.CONFIDENT:
            out.append(Remember(job.report.device_id, answer))
            if self.cfg.audit_edge and job.report.frame is not None:
                # a confident answer with its frame: an audit (protocol/audit.py); the
                # edge answers it only to measure, the result above stands
                out.append(SubmitEdge(replace(job, audit=True)))

    def _duplicate(self, out: list[Effect], key: Key, status: Status) -> None:
        out.append(_count("duplicates"))
        out.append(Log("duplicate report", (("frame", frame_id(key)), ("status", status.name))))

    # -- routing -----------------------------------------------------------------------
    def _route(self, now: Now, out: list[Effect], job: FrameJob, decision: Decision,
               cached: Answer | None, last: Answer | None) -> None:
        if decision.action is Action.CACHE and cached is not None:
            out.append(_count("cache_hits", kind="content"))
            self._finalize(now, out, job, replace(cached, tier=Tier.CACHE.value),
                           decision.reason, escalation=decision.escalation)
        elif decision.action is Action.EDGE:
            out.append(SubmitEdge(job))
        elif decision.action is Action.CLOUD:
            self._escalate(now, out, job, decision, last)
        else:
            self._answer_locally(now, out, job, decision, last)

    def edge_refused(self, now: Now, job: FrameJob, snapshot: Snapshot,
                     last: Answer | None) -> list[Effect]:
        """The batcher was full after all: decide again with the queue full."""
        out: list[Effect] = []
        if job.key not in self._hand:
            return out
        snap = replace(snapshot, edge_queue_depth=snapshot.edge_queue_capacity,
                       elapsed_ms=job.latency_ms(now), cached=False)
        self._route(now, out, job, policy.decide(job.report, snap), None, last)
        return out

    def edge_done(self, now: Now, job: FrameJob, edge: EdgeOutcome) -> list[Effect]:
        out: list[Effect] = []
        if job.key not in self._hand:
            return out
        conf = edge.answer.confidence if edge.answer is not None else 0.0
        margin = edge.margin if edge.answer is not None else 0.0
        job = replace(job, edge=edge.answer)
        self._hand[job.key] = job
        snap = replace(edge.snapshot, elapsed_ms=job.latency_ms(now))
        decision = policy.decide_after_edge(job.report, conf, margin, snap, job.escalation)
        out.append(_count("decisions", action=decision.action.value,
                          reason=decision.reason.value))
        if decision.action is Action.ACCEPT_EDGE and job.edge is not None:
            self._finalize(now, out, job, job.edge, decision.reason,
                           escalation=decision.escalation)
            out.append(Remember(job.report.device_id, job.edge, job.report.frame))
            r = job.report
            if self.cfg.audit_cloud_share and r.frame is not None and not r.private and \
                    audit_pick(r.device_id, r.epoch, r.seq, self.cfg.audit_cloud_share):
                out.append(AuditCloud(r, job.edge.label))  # measured, never an answer
        elif decision.action is Action.CLOUD:
            self._escalate(now, out, job, decision, edge.last)
        else:
            self._answer_locally(now, out, job, decision, edge.last)
        return out

    # -- the cloud tier ----------------------------------------------------------------
    def _local_answer(self, now: Now, out: list[Effect], job: FrameJob,
                      last: Answer | None) -> tuple[Answer, bool]:
        answer, stale = measured_fallback(device_answer(job.report, job.received_ms), job.edge,
                                          last, now.wall_ms, self.cfg.stale_max_age_ms,
                                          self.cfg.fallback_order)
        if stale:
            out.append(_count("cache_hits", kind="stale"))
        return answer, stale

    def _escalate(self, now: Now, out: list[Effect], job: FrameJob, decision: Decision,
                  last: Answer | None) -> None:
        answer, stale = self._local_answer(now, out, job, last)
        budget_ms = self.cfg.cloud_deadline_ms
        if job.report.deadline_ms is not None:
            budget_ms = min(budget_ms, job.report.deadline_ms)
        # The waiter exists *before* the frame can reach the cloud: a fast answer must
        # find it (else it would be taken for a stray and the frame degraded).
        self._hand.pop(job.key, None)
        self._waiters.add(Waiter(job, answer, stale, now.mono, decision.escalation),
                          job.received + budget_ms / 1000)
        assert job.report.frame is not None  # the policy escalates only frames
        out.append(Spool(job.key, job.report.frame, job.report.private,
                         self._value(job, answer), wait=True))
        out.append(Gauge("pending_frames", len(self._waiters)))

    def spooled(self, now: Now, key: Key, unspooled: str | None) -> list[Effect]:
        """The outcome of a waiting :class:`Spool`: None when kept, else why not."""
        out: list[Effect] = []
        if unspooled is None:
            return out
        waiter = self._waiters.pop(key)
        if waiter is not None:
            job = waiter.job
            reason = Reason.PRIVACY if job.report.private else Reason.CLOUD_DOWN
            if unspooled.startswith("claimcheck"):
                reason = Reason.CLOUD_ERROR  # the claim-check store failed the frame
            self._finalize(now, out, job, waiter.fallback, reason,
                           escalation=waiter.decided, degraded=True, stale=waiter.stale)
        return out

    def _value(self, job: FrameJob, answer: Answer) -> float:
        return (job.report.priority or 0) + 1.0 - answer.confidence

    def _answer_locally(self, now: Now, out: list[Effect], job: FrameJob, decision: Decision,
                        last: Answer | None) -> None:
        answer, stale = self._local_answer(now, out, job, last)
        self._finalize(now, out, job, answer, decision.reason, escalation=decision.escalation,
                       degraded=True, stale=stale)
        frame = job.report.frame
        if decision.spool and self.cfg.cloud_enabled and not job.report.private and \
                frame is not None:
            out.append(Spool(job.key, frame, job.report.private, self._value(job, answer),
                             wait=False))

    def cloud_answer(self, now: Now, reply: CloudReply,
                     state: FrameState | None) -> list[Effect]:
        """A cloud answer (or error). ``state``: the ledger's record of the frame."""
        out: list[Effect] = []
        key = reply.key
        waiter = self._waiters.pop(key)
        if waiter is not None:
            job = waiter.job
            self.cloud_rtt_ms = 0.8 * self.cloud_rtt_ms + 0.2 * (now.mono - waiter.sent_at) * 1000
            if reply.answer is None:
                self._finalize(now, out, job, waiter.fallback, Reason.CLOUD_ERROR,
                               escalation=job.escalation, degraded=True, stale=waiter.stale)
            else:
                self._finalize(now, out, job, reply.answer, Reason.CLOUD_ANSWER,
                               cost=reply.cost, escalation=job.escalation)
                out.append(Remember(job.report.device_id, reply.answer, job.report.frame))
            return out
        if reply.answer is None:
            out.append(Log("late cloud error", (("frame", frame_id(key)),
                                                ("error", (reply.error or "")[:200]))))
            return out
        if state is None or state.status is Status.PENDING or state.cloud_done or \
                self.holds(key):
            out.append(_count("duplicates"))
            out.append(Log("cloud answer not needed", (
                ("frame", frame_id(key)), ("state", state.status.name if state else "unknown"))))
            return out
        result = make_result(key, reply.answer, reason=Reason.CLOUD_ANSWER,
                             gateway_id=self.cfg.gateway_id, now_ms=now.wall_ms,
                             latency_ms=float(now.wall_ms - state.received_ms),
                             revision=state.revision + 1, cost=reply.cost)
        out.append(_count("corrections"))
        out.append(Emit(result, record=True, cloud_done=True))
        out.append(Remember(key[0], reply.answer, reply.frame))
        return out

    # -- deadlines ---------------------------------------------------------------------
    def tick(self, now: Now) -> list[Effect]:
        """Answer locally every waiting frame whose deadline has passed."""
        out: list[Effect] = []
        for waiter in self._waiters.due(now.mono):
            self._expire(now, out, waiter)
        return out

    def expire_all(self, now: Now) -> list[Effect]:
        """Stop: answer every waiting frame locally (its frame stays spooled, so a
        correction follows when the cloud answers)."""
        out: list[Effect] = []
        for waiter in self._waiters.drain():
            self._expire(now, out, waiter)
        return out

    def _expire(self, now: Now, out: list[Effect], waiter: Waiter) -> None:
        self._finalize(now, out, waiter.job, waiter.fallback, Reason.CLOUD_TIMEOUT,
                       escalation=waiter.job.escalation, degraded=True, stale=waiter.stale)

    # -- answers -----------------------------------------------------------------------
    def _result(self, now: Now, job: FrameJob, answer: Answer, reason: Reason, *,
                cost: float = 0.0, escalation: Reason | None = None, degraded: bool = False,
                stale: bool = False) -> Result:
        return make_result(job.key, answer, reason=reason, gateway_id=self.cfg.gateway_id,
                           now_ms=now.wall_ms, latency_ms=job.latency_ms(now), cost=cost,
                           escalation=escalation, degraded=degraded, stale=stale)

    def _finalize(self, now: Now, out: list[Effect], job: FrameJob, answer: Answer,
                  reason: Reason, *, cost: float = 0.0, escalation: Reason | None = None,
                  degraded: bool = False, stale: bool = False) -> None:
        """A frame's first final answer (revision 0); the one place that makes one. The
        frame leaves the hand here, so it cannot get a second."""
        self._hand.pop(job.key, None)
        result = self._result(now, job, answer, reason, cost=cost, escalation=escalation,
                              degraded=degraded, stale=stale)
        out.append(Emit(result, record=True, cloud_done=answer.tier == Tier.CLOUD.value))
        if degraded or stale:
            out.append(_count("degraded", kind="stale" if stale else "degraded"))
