"""Payload dataclasses of the cloud job: what a gateway asks a worker and the answers.

Same conventions as ``messages.py`` (fields as ``(key, name, kind)``, key 0 the schema
version, documented in PROTOCOL.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from .errors import ProtocolError
from .fields import (
    Array,
    Bytes,
    Field,
    Float,
    Ident,
    Nested,
    OneOf,
    Text,
    UInt,
    WireMessage,
)
from .limits import (
    MAX_ID_LENGTH,
    MAX_ITEMS_PER_REQUEST,
    MAX_REF_LENGTH,
    MAX_TEXT_LENGTH,
)
from .messages import Frame

#: Longest request nonce; the gateway sends 16 random bytes.
MAX_NONCE_BYTES = 32


@dataclass(frozen=True)
class CloudItem(WireMessage):
    """One frame inside a cloud request: inline bytes, or an S3 claim-check reference."""

    KIND: ClassVar[str] = "cloud_item"
    TOP_LEVEL: ClassVar[bool] = False
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "device_id", Ident()),
        Field(2, "epoch", UInt(32)),
        Field(3, "seq", UInt(32)),
        Field(4, "frame", Nested(Frame), required=False),
        Field(5, "frame_ref", Text(MAX_REF_LENGTH, 1), required=False),
    )

    device_id: str
    epoch: int
    seq: int
    frame: Frame | None = None
    frame_ref: str | None = None

    def check(self) -> None:
        if (self.frame is None) == (self.frame_ref is None):
            raise ProtocolError(self.KIND, "frame", "exactly one of frame and frame_ref is needed")

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.device_id, self.epoch, self.seq)


@dataclass(frozen=True)
class CloudRequest(WireMessage):
    """Gateway -> cloud workers: frames to classify, one correlation id for all."""

    KIND: ClassVar[str] = "cloud_request"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "correlation_id", Ident()),
        Field(2, "gateway_id", Ident()),
        Field(3, "ts_ms", UInt(64)),
        Field(4, "deadline_ms", UInt(32)),
        Field(5, "items", Array(Nested(CloudItem), MAX_ITEMS_PER_REQUEST, 1)),
        Field(6, "nonce", Bytes(MAX_NONCE_BYTES), required=False),
    )

    correlation_id: str
    gateway_id: str
    ts_ms: int
    deadline_ms: int
    items: tuple[CloudItem, ...]
    #: Fresh random bytes per request; the response must echo them (``CloudResponse.nonce``)
    #: or the gateway drops it: an answer to a request nobody read cannot be forged.
    nonce: bytes | None = None


@dataclass(frozen=True)
class CloudAnswer(WireMessage):
    """One frame's answer inside a cloud response; ``error`` set when it failed."""

    KIND: ClassVar[str] = "cloud_answer"
    TOP_LEVEL: ClassVar[bool] = False
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "device_id", Ident()),
        Field(2, "epoch", UInt(32)),
        Field(3, "seq", UInt(32)),
        Field(4, "label", UInt(16), required=False),
        Field(5, "confidence", Float(0.0, 1.0), required=False),
        Field(6, "error", Text(MAX_TEXT_LENGTH, 1), required=False),
    )

    device_id: str
    epoch: int
    seq: int
    label: int | None = None
    confidence: float | None = None
    error: str | None = None

    def check(self) -> None:
        answered = self.label is not None and self.confidence is not None
        if answered == (self.error is not None):
            raise ProtocolError(self.KIND, "error", "needs label and confidence, or an error")

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.device_id, self.epoch, self.seq)


STATUSES = ("ok", "error")


@dataclass(frozen=True)
class CloudResponse(WireMessage):
    """Cloud worker -> gateway: one envelope per request, matched by correlation id."""

    KIND: ClassVar[str] = "cloud_response"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "correlation_id", Ident()),
        Field(2, "status", OneOf(STATUSES)),
        Field(3, "worker_id", Ident()),
        Field(4, "model_id", Text(MAX_ID_LENGTH, 1)),
        Field(5, "model_version", UInt(32)),
        Field(6, "worker_ms", Float(0.0, math.inf)),
        Field(7, "ts_ms", UInt(64)),
        Field(8, "items", Array(Nested(CloudAnswer), MAX_ITEMS_PER_REQUEST)),
        Field(9, "error", Text(MAX_TEXT_LENGTH, 1), required=False),
        Field(10, "nonce", Bytes(MAX_NONCE_BYTES), required=False),
    )

    correlation_id: str
    status: str
    worker_id: str
    model_id: str
    model_version: int
    worker_ms: float
    ts_ms: int
    items: tuple[CloudAnswer, ...] = field(default_factory=tuple)
    error: str | None = None
    nonce: bytes | None = None  # the request's nonce, echoed

    def check(self) -> None:
        if self.status == "error" and self.error is None:
            raise ProtocolError(self.KIND, "error", "an error response must say why")
