"""Payload dataclasses of the device job: frames, reports and the results they get.

Each class lists its fields as ``(key, name, kind)``. The key is the integer used in
the msgpack map; key 0 is always the schema version and is written by the codec.
PROTOCOL.md documents every key; ``tests/protocol/test_docs.py`` keeps it honest.
The cloud job's messages are in ``cloud_messages.py``, the retained state, config and
metrics in ``status_messages.py``; ``catalog.MESSAGE_TYPES`` lists them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from .errors import ProtocolError
from .fields import (
    Array,
    Bool,
    Bytes,
    Field,
    Float,
    Ident,
    Int,
    Nested,
    OneOf,
    Text,
    UInt,
    WireMessage,
)
from .limits import (
    CONFIDENCE_SCALE,
    MAX_FRAME_DIMS,
    MAX_ID_LENGTH,
    MAX_SITE_PAYLOAD_BYTES,
    MAX_TOPK,
)


class Tier(str, Enum):
    """Who produced a result."""

    DEVICE = "device"
    EDGE = "edge"
    CLOUD = "cloud"
    CACHE = "cache"


class Reason(str, Enum):
    """Why a frame was answered where it was. Every result carries one."""

    CONFIDENT = "confident"  # device answer accepted: confident and unambiguous
    NO_FRAME = "no_frame"  # device unsure but sent no frame: its answer is all there is
    LOW_CONFIDENCE = "low_confidence"  # escalated: device top-1 below threshold
    SMALL_MARGIN = "small_margin"  # escalated: top-1/top-2 margin below threshold
    COMPLEX_INPUT = "complex_input"  # escalated: complexity score above limit
    EDGE_CONFIDENT = "edge_confident"  # edge answer accepted
    EDGE_UNSURE = "edge_unsure"  # edge not confident enough: sent to the cloud
    CLOUD_ANSWER = "cloud_answer"  # cloud answer (first or correction)
    PRIVACY = "privacy"  # frame flagged private: never leaves the site
    BUDGET = "budget"  # cloud spend budget exhausted
    CLOUD_DOWN = "cloud_down"  # circuit breaker open / link down: answered locally, spooled
    CLOUD_TIMEOUT = "cloud_timeout"  # cloud did not answer by the deadline
    CLOUD_ERROR = "cloud_error"  # the worker answered with an error
    EDGE_BUSY = "edge_busy"  # edge queue full
    DEADLINE = "deadline"  # not enough time left to escalate
    CACHE_HIT = "cache_hit"  # identical frame already answered
    AUDIT = "audit"  # device answer accepted; its frame was attached only to be audited


FRAME_DTYPES = ("uint8", "int8")


@dataclass(frozen=True)
class Frame(WireMessage):
    """A quantized input tensor: raw bytes, shape, dtype and affine quantization."""

    KIND: ClassVar[str] = "frame"
    TOP_LEVEL: ClassVar[bool] = False
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "data", Bytes(MAX_SITE_PAYLOAD_BYTES)),  # the message's own limit binds
        Field(2, "shape", Array(UInt(16), MAX_FRAME_DIMS, 1)),
        Field(3, "dtype", OneOf(FRAME_DTYPES)),
        Field(4, "scale", Float(0.0, math.inf)),
        Field(5, "zero_point", Int(-128, 255)),
    )

    data: bytes
    shape: tuple[int, ...]
    dtype: str = "uint8"
    scale: float = 1.0
    zero_point: int = 0

    def check(self) -> None:
        if math.prod(self.shape) != len(self.data):
            raise ProtocolError(
                self.KIND, "data", f"{len(self.data)} bytes do not match shape {self.shape}"
            )


@dataclass(frozen=True)
class Report(WireMessage):
    """Device -> gateway: one inference on one frame.

    Confidences are fixed point (``value / 65535``) so that the MCU and every
    emulator produce identical bytes.
    """

    KIND: ClassVar[str] = "report"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "device_id", Ident()),
        Field(2, "epoch", UInt(32)),
        Field(3, "seq", UInt(32)),
        Field(4, "ts_ms", UInt(64)),
        Field(5, "model_id", Text(MAX_ID_LENGTH, 1)),
        Field(6, "model_version", UInt(32)),
        Field(7, "classes", Array(UInt(16), MAX_TOPK, 1)),
        Field(8, "confidences", Array(UInt(16), MAX_TOPK, 1)),
        Field(9, "frame", Nested(Frame), required=False),
        Field(10, "complexity", Float(0.0, math.inf), required=False),
        Field(11, "deadline_ms", UInt(32), required=False),
        Field(12, "priority", UInt(8), required=False),
        Field(13, "private", Bool(), required=False),
    )

    device_id: str
    epoch: int
    seq: int
    ts_ms: int
    model_id: str
    model_version: int
    classes: tuple[int, ...]
    confidences: tuple[int, ...]
    frame: Frame | None = None
    complexity: float | None = None
    deadline_ms: int | None = None
    priority: int | None = None
    private: bool = False

    def check(self) -> None:
        if len(self.classes) != len(self.confidences):
            raise ProtocolError(self.KIND, "confidences", "must have one entry per class")
        if any(a < b for a, b in zip(self.confidences, self.confidences[1:], strict=False)):
            raise ProtocolError(self.KIND, "confidences", "must be sorted, highest first")

    @property
    def key(self) -> tuple[str, int, int]:
        """The frame's identity: (device, session epoch, sequence)."""
        return (self.device_id, self.epoch, self.seq)

    @property
    def top1(self) -> int:
        return self.classes[0]

    @property
    def confidence(self) -> float:
        """Top-1 confidence in 0..1."""
        return self.confidences[0] / CONFIDENCE_SCALE

    @property
    def margin(self) -> float:
        """Top-1 minus top-2 confidence (top-1 alone when only one class is sent)."""
        second = self.confidences[1] if len(self.confidences) > 1 else 0
        return (self.confidences[0] - second) / CONFIDENCE_SCALE


TIERS = tuple(t.value for t in Tier)
REASONS = tuple(r.value for r in Reason)


@dataclass(frozen=True)
class Result(WireMessage):
    """Gateway -> dashboards: the answer for one frame, with its provenance.

    ``revision`` 0 is the first final answer; a later cloud answer for the same frame
    is published as a correction with a higher revision.
    """

    KIND: ClassVar[str] = "result"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "device_id", Ident()),
        Field(2, "epoch", UInt(32)),
        Field(3, "seq", UInt(32)),
        Field(4, "label", UInt(16)),
        Field(5, "confidence", Float(0.0, 1.0)),
        Field(6, "tier", OneOf(TIERS)),
        Field(7, "model_id", Text(MAX_ID_LENGTH, 1)),
        Field(8, "model_version", UInt(32)),
        Field(9, "latency_ms", Float(0.0, math.inf)),
        Field(10, "cost", Float(0.0, math.inf)),
        Field(11, "reason", OneOf(REASONS)),
        Field(12, "revision", UInt(16)),
        Field(13, "gateway_id", Ident()),
        Field(14, "ts_ms", UInt(64)),
        Field(15, "degraded", Bool(), required=False),
        Field(16, "stale", Bool(), required=False),
        Field(17, "age_ms", UInt(64), required=False),
        Field(18, "escalation", OneOf(REASONS), required=False),
        Field(19, "fused", Bool(), required=False),
    )

    device_id: str
    epoch: int
    seq: int
    label: int
    confidence: float
    tier: str
    model_id: str
    model_version: int
    latency_ms: float
    cost: float
    reason: str
    revision: int
    gateway_id: str
    ts_ms: int
    degraded: bool = False
    stale: bool = False
    age_ms: int | None = None
    escalation: str | None = None
    fused: bool = False  # the answer is a pool of tiers' evidence (issue 22, models/fusion.py)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.device_id, self.epoch, self.seq)
