"""What goes into the worker's pure core (:mod:`.machine`) and what comes out of it.

Events are what the shell observed (a message arrived, the model finished, a publish
was handed to the connection); effects are what the core asks the shell to do. Both
are frozen values; times are passed to :meth:`WorkerCore.step` with the event, never
read by the core.

Effects the shell carries out::

    Publish    hand payload to the connection (rate-limited), then report Sent(publish)
    Ack        acknowledge one QoS>0 delivery (only emitted for the current connection)
    Prepare    fetch claim-checked frames, convert to pixels, submit to the batcher;
               report ModelDone or PrepareFailed for its key
    Subscribe / Unsubscribe   the request filter
    Count / SetGauge / Observe   metric updates (names are WorkerMetrics attributes)
    Log        one log record (message and fields exactly as logged)
    Drop       a delivery that ends without an answer, with the reason
    Drained    draining finished: nothing is in hand, nothing more will be answered
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edgecascade.protocol import CloudRequest, ProtocolError

from .core import ItemInput

Key = tuple[str, str]  # (gateway id, correlation id)


@dataclass(frozen=True)
class Ticket:
    """One received QoS>0 message to acknowledge; only valid on its connection."""

    generation: int
    mid: int
    qos: int


# -- events -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Connected:
    """The broker accepted the connection (a new generation of tickets begins)."""


@dataclass(frozen=True)
class Message:
    """One delivery on the request filter."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 1


@dataclass(frozen=True)
class Decoded:
    """A :class:`Message` read as a cloud request for ``gateway_id`` (the id in its topic).

    Reading is pure and needs no state (:func:`.machine.read_message`): the shell may do
    it outside its lock and step this instead of the message."""

    message: Message
    gateway_id: str
    request: CloudRequest


@dataclass(frozen=True)
class Undecodable:
    """A :class:`Message` that is no cloud request (bad topic or bad payload)."""

    message: Message
    error: ProtocolError


@dataclass(frozen=True)
class ModelDone:
    """The batcher finished an admitted request: its rows of ``probs``, or ``error``."""

    key: Key
    inputs: tuple[ItemInput, ...]
    probs: np.ndarray | None = field(default=None, compare=False)
    error: BaseException | None = None
    model: tuple[str, int] | None = None  # (id, version) of the model that ran this batch


@dataclass(frozen=True)
class PrepareFailed:
    """An admitted request never reached the model (``why`` is the answer's error)."""

    key: Key
    why: str


@dataclass(frozen=True)
class Sent:
    """A :class:`Publish` was handed to the connection (or its publish failed: the
    deliveries it answers are released either way)."""

    publish: Publish


@dataclass(frozen=True)
class Drain:
    """Stop taking work (SIGTERM): unsubscribe, finish what is in hand."""


@dataclass(frozen=True)
class Unsubscribed:
    """The broker confirmed the unsubscribe (or the shell gave up waiting for it)."""


@dataclass(frozen=True)
class Close:
    """The shell is going away: whatever is still in hand is abandoned, never acked."""


Event = (Connected | Message | Decoded | Undecodable | ModelDone | PrepareFailed | Sent | Drain
         | Unsubscribed | Close)


# -- effects ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Publish:
    topic: str
    payload: bytes
    key: Key | None = None  # the admitted request this answers (acks its deliveries)
    tickets: tuple[Ticket, ...] = ()  # deliveries acked by this publish besides ``key``'s
    received: float = 0.0  # when the request arrived (latency), 0 for replays of a replay
    retain: bool = False


@dataclass(frozen=True)
class Ack:
    mid: int
    qos: int


@dataclass(frozen=True)
class Prepare:
    key: Key
    request: CloudRequest


@dataclass(frozen=True)
class Subscribe:
    filter: str


@dataclass(frozen=True)
class Unsubscribe:
    filter: str


MetricName = Literal["requests", "frames", "errors", "in_hand", "dedupe_evictions", "latency"]


@dataclass(frozen=True)
class Count:
    metric: MetricName
    label: str
    amount: float = 1.0


@dataclass(frozen=True)
class SetGauge:
    metric: MetricName
    value: float


@dataclass(frozen=True)
class Observe:
    metric: MetricName
    value: float


@dataclass(frozen=True)
class Log:
    level: int
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Drop:
    """Something that ends without reaching the wire: a delivery ``rejected`` (undecodable:
    acked, nobody to answer) or arriving when ``drained``/``closed`` (left unacked for the
    broker to redispatch); after close, a publish or an ack (``mid``) not carried out."""

    reason: Literal["rejected", "drained", "closed"]
    topic: str
    mid: int | None = None


@dataclass(frozen=True)
class Drained:
    pass


Effect = (Publish | Ack | Prepare | Subscribe | Unsubscribe | Count | SetGauge | Observe | Log
          | Drop | Drained)
