"""Payload dataclasses of model updates over the air (OTA): the manifest, its chunks and
each device's answer.

* ``ModelManifest`` (retained, ``Topics.model_manifest(tier)``): which model version a
  tier should run, pinned by sha256, with the arena it was measured to need and the
  device thresholds calibrated for it. ``devices`` empty means every device of the tier.
* ``ModelChunk`` (retained, ``Topics.model_chunk(tier, version, index)``): bytes
  ``offset .. offset + len(data)`` of the model file. The chunk size is chosen by the
  publisher (``MODEL_CHUNK_BYTES`` by default) and stated in the manifest, so every
  chunk message stays far below the 128 KB payload limit.
* ``OtaStatus`` (retained, ``Topics.device_ota(device)``): what the device did with the
  newest manifest it saw, and why (``OTA_REASONS``), and the version it runs.

Same conventions as ``messages.py`` (fields as ``(key, name, kind)``, key 0 the schema
version).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .errors import ProtocolError
from .fields import Array, Bytes, Field, Float, Ident, OneOf, Text, UInt, WireMessage
from .limits import (
    MAX_ID_LENGTH,
    MAX_MODEL_BYTES,
    MAX_MODEL_CHUNK_BYTES,
    MAX_MODEL_CHUNKS,
    MAX_OTA_TARGETS,
    SHA256_BYTES,
)

#: Model tiers a manifest may address.
MODEL_TIERS = ("mcu", "edge", "cloud")

#: What a device did with a manifest (``OtaStatus.state``).
OTA_STATES = ("downloading", "applied", "rejected", "rolled_back")

#: Why (``OtaStatus.reason``): ``ok`` for applied, else what failed first.
OTA_REASONS = (
    "ok",
    "in_progress",
    "too_large",  # size exceeds the model slot
    "arena_too_small",  # the model's measured arena exceeds the device's arena
    "bad_chunk",  # a chunk disagrees with the manifest (offset, size, model, version)
    "sha256_mismatch",  # the assembled bytes do not hash to the manifest's sha256
    "load_failed",  # the interpreter refused the model
    "self_test_failed",  # the model's answers on the stored frames were wrong
    "storage",  # writing the inactive slot or the active-slot record failed
)


def chunk_count(size: int, chunk_bytes: int) -> int:
    """How many chunks of ``chunk_bytes`` carry ``size`` bytes (the last may be short)."""
    return -(-size // chunk_bytes)


@dataclass(frozen=True)
class ModelManifest(WireMessage):
    """Publisher -> devices, retained: the model version a tier should run."""

    KIND: ClassVar[str] = "model_manifest"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "model_id", Text(MAX_ID_LENGTH, 1)),
        Field(2, "version", UInt(32)),
        Field(3, "tier", OneOf(MODEL_TIERS)),
        Field(4, "sha256", Bytes(SHA256_BYTES)),
        Field(5, "size", UInt(32)),
        Field(6, "arena_bytes", UInt(32)),
        Field(7, "chunk_bytes", UInt(32)),
        Field(8, "conf_threshold", Float(0.0, 1.0)),
        Field(9, "margin_threshold", Float(0.0, 1.0)),
        Field(10, "complexity_limit", Float(0.0, math.inf)),
        Field(11, "devices", Array(Ident(), MAX_OTA_TARGETS), required=False),
    )

    model_id: str
    version: int
    tier: str
    sha256: bytes
    size: int
    arena_bytes: int
    chunk_bytes: int
    conf_threshold: float
    margin_threshold: float
    complexity_limit: float
    devices: tuple[str, ...] = ()

    def check(self) -> None:
        if len(self.sha256) != SHA256_BYTES:
            raise ProtocolError(self.KIND, "sha256", f"must be {SHA256_BYTES} bytes")
        if not 1 <= self.size <= MAX_MODEL_BYTES:
            raise ProtocolError(self.KIND, "size", f"must be 1..{MAX_MODEL_BYTES}")
        if not 1 <= self.chunk_bytes <= MAX_MODEL_CHUNK_BYTES:
            raise ProtocolError(self.KIND, "chunk_bytes", f"must be 1..{MAX_MODEL_CHUNK_BYTES}")
        if chunk_count(self.size, self.chunk_bytes) > MAX_MODEL_CHUNKS:
            raise ProtocolError(self.KIND, "chunk_bytes", f"more than {MAX_MODEL_CHUNKS} chunks")
        if self.version == 0:
            raise ProtocolError(self.KIND, "version", "must be at least 1")

    @property
    def chunks(self) -> int:
        return chunk_count(self.size, self.chunk_bytes)

    def targets(self, device_id: str) -> bool:
        """Whether this manifest addresses ``device_id``."""
        return not self.devices or device_id in self.devices


@dataclass(frozen=True)
class ModelChunk(WireMessage):
    """Publisher -> devices, retained: one piece of a model file."""

    KIND: ClassVar[str] = "model_chunk"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "model_id", Text(MAX_ID_LENGTH, 1)),
        Field(2, "version", UInt(32)),
        Field(3, "index", UInt(16)),
        Field(4, "offset", UInt(32)),
        Field(5, "data", Bytes(MAX_MODEL_CHUNK_BYTES)),
    )

    model_id: str
    version: int
    index: int
    offset: int
    data: bytes

    def check(self) -> None:
        if not self.data:
            raise ProtocolError(self.KIND, "data", "must not be empty")


@dataclass(frozen=True)
class OtaStatus(WireMessage):
    """Device -> fleet tools, retained: the outcome of the newest manifest it saw."""

    KIND: ClassVar[str] = "ota_status"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "device_id", Ident()),
        Field(2, "ts_ms", UInt(64)),
        Field(3, "model_id", Text(MAX_ID_LENGTH, 1)),
        Field(4, "version", UInt(32)),
        Field(5, "state", OneOf(OTA_STATES)),
        Field(6, "reason", OneOf(OTA_REASONS)),
        Field(7, "running_version", UInt(32)),
    )

    device_id: str
    ts_ms: int
    model_id: str
    version: int
    state: str
    reason: str
    running_version: int
