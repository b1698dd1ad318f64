"""Events and effects of the frame-lifecycle core (:mod:`.core`): frozen values only.

Events are what the shell tells the core (an :class:`Arrival`, the ledger's
:class:`Admitted`, an :class:`EdgeOutcome`, a :class:`CloudReply`, the time :class:`Now`);
effects are what the core asks the shell to do, in order (store, publish, remember,
queue for the edge, spool, count, log). :data:`Effect` is their union.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgecascade.protocol import Frame, Reason, Report, Result

from .cache import Answer
from .frame_state import FrameState, Key
from .policy import Snapshot


def frame_id(key: Key) -> str:
    return f"{key[0]}/{key[1]}/{key[2]}"


# == inputs =============================================================================
@dataclass(frozen=True)
class Now:
    mono: float  # monotonic seconds: latencies and deadlines
    wall_ms: int  # wall clock: timestamps that survive restarts


@dataclass(frozen=True)
class CoreConfig:
    gateway_id: str
    cloud_deadline_ms: int
    stale_max_age_ms: int
    cloud_enabled: bool = True
    # Local sources of a degraded answer, best first, as measured at calibration
    # (Thresholds.fallback_order; see .fallback). Empty: the built-in rule.
    fallback_order: tuple[str, ...] = ()
    # Audit a confident device answer that came with its frame (DeviceConfig.audit_share)
    # with the edge model; the answer already given stands (issue 22).
    audit_edge: bool = False
    # Audit a share of the edge's accepted answers with the cloud (uint16, 1/65536; 0: off);
    # the shell spends at most [monitoring] audit_cloud_messages on them per budget window.
    audit_cloud_share: int = 0


@dataclass(frozen=True)
class FrameJob:
    """A frame in hand (not yet finally answered). ``pixels`` is the shell's, opaque here."""

    report: Report
    received: float  # Now.mono at receipt (or recovery, back-dated by the frame's age)
    received_ms: int  # wall clock at receipt (survives restarts)
    escalation: Reason | None
    pixels: object = None
    edge: Answer | None = None
    audit: bool = False  # only measured: the edge answers, the core is not told

    @property
    def key(self) -> Key:
        return self.report.key

    def latency_ms(self, now: Now) -> float:
        return (now.mono - self.received) * 1000


@dataclass(frozen=True)
class Arrival:
    """A validated report (``payload`` None: recovered from the ledger, already stored).

    ``cached`` (the content-hash hit) and ``last`` (the stream's last good answer) are
    what the shell read from the cache; it reads them when :func:`needs_lookup`."""

    report: Report
    payload: bytes | None
    received: float
    received_ms: int
    snapshot: Snapshot
    pixels: object = None
    cached: Answer | None = None
    last: Answer | None = None


@dataclass(frozen=True)
class Admitted:
    """The ledger's answer to an ``Admit*`` effect: None when new, else the frame's state."""

    key: Key
    existing: FrameState | None
    result: Result | None = None  # what the ledger stored for a new AdmitFinal


@dataclass(frozen=True)
class EdgeOutcome:
    answer: Answer | None  # None: the edge model failed for this frame
    margin: float
    snapshot: Snapshot
    last: Answer | None


@dataclass(frozen=True)
class CloudReply:
    key: Key
    answer: Answer | None  # None: the worker answered with an error
    error: str | None
    cost: float
    frame: Frame | None  # the frame as sent (for the content cache), if known


# == effects ============================================================================
@dataclass(frozen=True)
class AdmitFinal:
    """Store a frame answered at once, with its result; report back with :class:`Admitted`.

    The shell builds the result with ``FrameCore.final_result(now, ask)`` when the ledger
    asks for it, inside the dedupe transaction (so its latency covers it), and hands it
    back in :attr:`Admitted.result`."""

    key: Key
    received_ms: int
    job: FrameJob
    answer: Answer
    reason: Reason
    escalation: Reason | None


@dataclass(frozen=True)
class AdmitPending:
    """Store a frame as pending; report back with :class:`Admitted`."""

    key: Key
    payload: bytes
    received_ms: int


@dataclass(frozen=True)
class Emit:
    """Publish a result; first store it in the ledger when ``record`` (status unsent)."""

    result: Result
    record: bool = True
    cloud_done: bool = False


@dataclass(frozen=True)
class Remember:
    """A confirmed answer for the last-good cache (stream, and content when ``frame``)."""

    device_id: str
    answer: Answer
    frame: Frame | None = None


@dataclass(frozen=True)
class SubmitEdge:
    """Queue the frame for the edge model; call ``edge_refused`` if the queue is full."""

    job: FrameJob


@dataclass(frozen=True)
class Spool:
    """Hand the frame to the cloud client. ``wait``: call ``spooled`` with the outcome."""

    key: Key
    frame: Frame
    private: bool
    value: float
    wait: bool


@dataclass(frozen=True)
class AuditCloud:
    """Ask the cloud about a frame the edge already answered, only to measure (issue 22):
    its reply never reaches the core (``FieldMonitor.take_cloud_audit``)."""

    report: Report
    edge_label: int


@dataclass(frozen=True)
class Count:
    metric: str
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Gauge:
    metric: str
    value: float


@dataclass(frozen=True)
class Log:
    message: str
    extra: tuple[tuple[str, object], ...] = ()


Effect = (AdmitFinal | AdmitPending | Emit | Remember | SubmitEdge | Spool | Count | Gauge
          | Log | AuditCloud)
