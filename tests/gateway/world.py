"""A synchronous world around the pure frame-lifecycle core, for property tests.

It executes the core's effects the way the gateway shell does, against the *real*
ledger and last-good cache (SQLite in a temporary directory), with the edge queue, the
spool and the cloud as plain in-memory models, and the clock under the test's control.
``restart()`` is a crash: everything in memory goes (core, edge queue), the SQLite files
stay and are recovered from, and the spool (the frames the cloud may still answer) stays.
Every result the world publishes is kept, in order, in ``wire``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgecascade.gateway import effects as fx
from edgecascade.gateway.breaker import BreakerState
from edgecascade.gateway.cache import Answer, LastGoodCache, frame_hash
from edgecascade.gateway.config import Thresholds
from edgecascade.gateway.core import FrameCore, needs_lookup
from edgecascade.gateway.ledger import Key, Ledger
from edgecascade.gateway.policy import Snapshot
from edgecascade.protocol import Frame, Report, Result, confidence_to_wire, decode, encode

T = Thresholds(device_confidence=0.9, device_margin=0.2, edge_confidence=0.8, edge_margin=0.0)
CFG = fx.CoreConfig(gateway_id="gw", cloud_deadline_ms=1000, stale_max_age_ms=60_000)
EDGE_CAPACITY = 2
KINDS = ("confident", "unsure", "private", "no_frame", "tight_deadline")


def make_report(device: str, seq: int, kind: str) -> Report:
    conf = 0.95 if kind == "confident" else 0.5
    return Report(device_id=device, epoch=1, seq=seq, ts_ms=0, model_id="m", model_version=1,
                  classes=(1, 2), confidences=(confidence_to_wire(conf), confidence_to_wire(0.1)),
                  frame=None if kind == "no_frame" else Frame(data=bytes([seq]) * 4,
                                                               shape=(2, 2)),
                  private=kind == "private",
                  deadline_ms=50 if kind == "tight_deadline" else None)


@dataclass(frozen=True)
class Wire:
    key: Key
    revision: int
    data: bytes

    @property
    def result(self) -> Result:
        return decode(Result, self.data)


@dataclass
class World:
    state_dir: Path
    reports: dict[Key, Report]
    mono: float = 0.0
    wire: list[Wire] = field(default_factory=list)
    spooled: list[Key] = field(default_factory=list)  # the cloud may answer these
    acked: set[Key] = field(default_factory=set)  # reports acknowledged to the broker
    edge_queue: list[fx.FrameJob] = field(default_factory=list)
    spool_fails: str | None = None  # what the spool says instead of keeping a frame
    edge_up: bool = True
    breaker: BreakerState = BreakerState.CLOSED
    recovering: bool = False  # restarted, pending frames not yet re-admitted

    def __post_init__(self) -> None:
        self._open()

    def _open(self) -> None:
        self.ledger = Ledger(self.state_dir / "ledger.sqlite")
        self.cache = LastGoodCache(self.state_dir / "cache.sqlite")
        self.core = FrameCore(CFG)

    def close(self) -> None:
        self.ledger.close()
        self.cache.close()

    # -- time and state ------------------------------------------------------------------
    def now(self) -> fx.Now:
        return fx.Now(self.mono, 1_700_000_000_000 + int(self.mono * 1000))

    def snapshot(self) -> Snapshot:
        return Snapshot(thresholds=T, edge_available=self.edge_up,
                        edge_queue_depth=len(self.edge_queue),
                        edge_queue_capacity=EDGE_CAPACITY, breaker=self.breaker,
                        cloud_latency_ms=self.core.cloud_rtt_ms)

    # -- events --------------------------------------------------------------------------
    def arrival(self, report: Report, payload: bytes | None, received: float,
                received_ms: int) -> fx.Arrival:
        snap = self.snapshot()
        cached = last = None
        if needs_lookup(report, snap):
            assert report.frame is not None
            cached = self.cache.lookup(frame_hash(report.frame))
            last = self.cache.last(report.device_id)
        return fx.Arrival(report, payload, received, received_ms, snap, None, cached, last)

    def arrive(self, keys: list[Key]) -> None:
        """A batch of reports (a redelivery is just the same report again)."""
        now = self.now()
        arrivals = [self.arrival(self.reports[k], encode(self.reports[k]), now.mono, now.wall_ms)
                    for k in keys]
        asks: list[fx.AdmitFinal | fx.AdmitPending] = []
        self.run(self.core.arrive(now, arrivals), asks)
        outcomes = []
        for ask in asks:
            made: list[Result] = []
            if isinstance(ask, fx.AdmitFinal):
                def build(ask: fx.AdmitFinal = ask, made: list[Result] = made) -> bytes:
                    made.append(self.core.final_result(self.now(), ask))
                    return encode(made[0])
                existing = self.ledger.admit_final(ask.key, ask.received_ms, build)
            else:
                existing = self.ledger.admit(ask.key, ask.payload, ask.received_ms)
            outcomes.append(fx.Admitted(ask.key, existing, made[0] if made else None))
        self.run(self.core.admitted(self.now(), outcomes))
        self.acked.update(keys)  # PUBACK only after the whole batch is durable and handled

    def edge_done(self, index: int, outcome: str) -> None:
        if not self.edge_queue:
            return
        job = self.edge_queue.pop(index % len(self.edge_queue))
        answer = None
        if outcome != "error":
            conf = 0.9 if outcome == "confident" else 0.6
            answer = Answer(3, conf, "edge", "edge-m", 1, self.now().wall_ms)
        ev = fx.EdgeOutcome(answer, 0.5, self.snapshot(), self.cache.last(job.report.device_id))
        self.run(self.core.edge_done(self.now(), job, ev))

    def cloud(self, index: int, outcome: str, keep: bool) -> None:
        """The cloud answers one spooled frame (``keep``: it will answer it again)."""
        if not self.spooled:
            return
        key = self.spooled[index % len(self.spooled)]
        if not keep:
            self.spooled = [k for k in self.spooled if k != key]
        answer = None if outcome == "error" else Answer(7, 0.99, "cloud", "big", 2,
                                                        self.now().wall_ms)
        reply = fx.CloudReply(key, answer, "boom" if answer is None else None, 1.5,
                              self.reports[key].frame)
        state = None
        if answer is not None and not self.core.is_waiting(key):
            state = self.ledger.state(key)
        self.run(self.core.cloud_answer(self.now(), reply, state))

    def advance(self, ms: int) -> None:
        self.mono += ms / 1000
        self.run(self.core.tick(self.now()))

    def puback(self) -> None:
        self.ledger.mark_sent([(w.key, w.revision) for w in self.wire])

    def restart(self) -> None:
        """A crash and a start: memory is gone, the stores and the spool stay."""
        self.close()
        self.edge_queue.clear()
        self._open()
        self.recovering = True

    def resume(self) -> None:
        """What the shell does once the site link is up after a start."""
        if not self.recovering:
            return
        self.recovering = False
        for key, revision, data in self.ledger.unsent():
            self.wire.append(Wire(key, revision, data))
        now = self.now()
        arrivals = []
        for frame in self.ledger.pending():
            age_s = max(0.0, (now.wall_ms - frame.received_ms) / 1000)
            arrivals.append(self.arrival(decode(Report, frame.report), None, now.mono - age_s,
                                         frame.received_ms))
        self.run(self.core.arrive(now, arrivals))

    def drain(self) -> None:
        """Let everything in hand finish: the edge answers, the deadlines pass, then the
        cloud (late) answers every frame still spooled, twice (it delivers at least once)."""
        self.resume()
        while self.edge_queue:
            self.edge_done(0, "unsure")
        self.advance(600_000)
        while self.spooled:
            self.cloud(0, "ok", keep=True)
            self.cloud(0, "ok", keep=False)

    # -- effects -------------------------------------------------------------------------
    def run(self, effects: list[fx.Effect],
            asks: list[fx.AdmitFinal | fx.AdmitPending] | None = None) -> None:
        for e in effects:
            if isinstance(e, (fx.AdmitFinal, fx.AdmitPending)):
                assert asks is not None, "only admission asks the ledger"
                asks.append(e)
            elif isinstance(e, fx.Emit):
                data = encode(e.result)
                if e.record:
                    self.ledger.record(e.result.key, e.result.revision, data, e.cloud_done)
                self.wire.append(Wire(e.result.key, e.result.revision, data))
            elif isinstance(e, fx.Remember):
                self.cache.put_stream(e.device_id, e.answer)
                if e.frame is not None:
                    self.cache.put_content(frame_hash(e.frame), e.answer)
            elif isinstance(e, fx.SubmitEdge):
                if len(self.edge_queue) < EDGE_CAPACITY:
                    self.edge_queue.append(e.job)
                else:
                    self.run(self.core.edge_refused(self.now(), e.job, self.snapshot(),
                                                    self.cache.last(e.job.report.device_id)))
            elif isinstance(e, fx.Spool):
                assert not e.private, "a private frame reached the spool"
                unspooled = self.spool_fails
                if unspooled is None and e.key not in self.spooled:
                    self.spooled.append(e.key)
                if e.wait:
                    self.run(self.core.spooled(self.now(), e.key, unspooled))
