"""Payload dataclasses of state and control: device birth/will, device config, service
state and metrics (retained).

Same conventions as ``messages.py`` (fields as ``(key, name, kind)``, key 0 the schema
version, documented in PROTOCOL.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .fields import (
    Bool,
    Field,
    Float,
    Ident,
    StrMap,
    Text,
    UInt,
    WireMessage,
)
from .limits import (
    MAX_ID_LENGTH,
    MAX_METRICS,
    MAX_VERSION_LENGTH,
)


@dataclass(frozen=True)
class DeviceState(WireMessage):
    """Device birth (online) and last will (offline); retained."""

    KIND: ClassVar[str] = "device_state"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "device_id", Ident()),
        Field(2, "online", Bool()),
        Field(3, "ts_ms", UInt(64)),
        Field(4, "epoch", UInt(32), required=False),
        Field(5, "model_id", Text(MAX_ID_LENGTH, 1), required=False),
        Field(6, "model_version", UInt(32), required=False),
        Field(7, "fw_version", Text(MAX_VERSION_LENGTH, 1), required=False),
        Field(8, "dropped", UInt(32), required=False),
    )

    device_id: str
    online: bool
    ts_ms: int
    epoch: int | None = None
    model_id: str | None = None
    model_version: int | None = None
    fw_version: str | None = None
    dropped: int | None = None


@dataclass(frozen=True)
class DeviceConfig(WireMessage):
    """Gateway -> device, retained: attach-frame thresholds and an assigned epoch.

    ``audit_share``: the share of confident reports the device also attaches its frame
    to (reason ``audit``), in 1/65536 (655 ~ 1%); absent or 0: no audits. Which reports
    is a deterministic function of (epoch, seq) the gateway can recompute
    (``ec_audit_pick``)."""

    KIND: ClassVar[str] = "device_config"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "revision", UInt(32)),
        Field(2, "conf_threshold", Float(0.0, 1.0)),
        Field(3, "margin_threshold", Float(0.0, 1.0)),
        Field(4, "complexity_limit", Float(0.0, math.inf)),
        Field(5, "epoch", UInt(32), required=False),
        Field(6, "audit_share", UInt(16), required=False),
    )

    revision: int
    conf_threshold: float
    margin_threshold: float
    complexity_limit: float
    epoch: int | None = None
    audit_share: int | None = None


@dataclass(frozen=True)
class ServiceState(WireMessage):
    """Gateway or worker birth (online) and last will (offline); retained."""

    KIND: ClassVar[str] = "service_state"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "service_id", Ident()),
        Field(2, "online", Bool()),
        Field(3, "ts_ms", UInt(64)),
        Field(4, "version", Text(MAX_VERSION_LENGTH, 1), required=False),
        Field(5, "model_id", Text(MAX_ID_LENGTH, 1), required=False),
    )

    service_id: str
    online: bool
    ts_ms: int
    version: str | None = None
    model_id: str | None = None


@dataclass(frozen=True)
class Metrics(WireMessage):
    """Gateway metrics summary, retained: counter name -> value."""

    KIND: ClassVar[str] = "metrics"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field(1, "service_id", Ident()),
        Field(2, "ts_ms", UInt(64)),
        Field(3, "values", StrMap(MAX_METRICS, Float())),
    )

    service_id: str
    ts_ms: int
    values: dict[str, float]
