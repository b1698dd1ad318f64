"""The JSON view: dashboard-facing messages as plain JSON with field *names*.

The wire between devices, gateway and cloud stays msgpack with integer keys. For
tools that cannot decode that (Node-RED, Home Assistant, Grafana's MQTT source, MQTT
Explorer), the gateway can republish results, device and gateway state and its
metrics summary as JSON under a second topic root (PROTOCOL.md, "The JSON view"):

    {json}/res/{device}            result            QoS 1, not retained
    {json}/dev/{device}/state      device_state      QoS 1, retained
    {json}/dev/{device}/last       result (latest)   QoS 1, retained, rate-limited
    {json}/gw/{gateway}/state      service_state     QoS 1, retained
    {json}/gw/{gateway}/metrics    metrics           QoS 0, retained

``{json}`` is ``<prefix>/json`` by default (``ec/v1/json``). Field names are those of
PROTOCOL.md's tables; every object also carries ``schema`` (the schema version) and
``kind`` (the table name). A result adds ``label_name`` (the class name from the model
registry) when the gateway knows it. Floats are float32 on the wire; the view writes
the shortest decimal that is the same float32 (``0.99``, not ``0.9900000095367432``).
Pure: no I/O.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import DeviceState, Metrics, Result, ServiceState
from .errors import ProtocolError
from .limits import SCHEMA_VERSION
from .topics import check_topic_limits, validate_id

#: The segment added under the wire prefix when no JSON root is configured.
DEFAULT_JSON_SEGMENT = "json"
_ROOT_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}(/[A-Za-z0-9_-]{1,32}){0,2}$")


def default_json_root(prefix: str) -> str:
    return f"{prefix}/{DEFAULT_JSON_SEGMENT}"


@dataclass(frozen=True)
class JsonTopics:
    """Topics of the JSON view under one root (``ec/v1/json`` by default)."""

    root: str

    def __post_init__(self) -> None:
        if not _ROOT_RE.match(self.root):
            raise ProtocolError("topic", "json_root",
                                f"must be 1..3 segments of [A-Za-z0-9_-], got {self.root!r}")

    def _build(self, *parts: str) -> str:
        return check_topic_limits("/".join((self.root, *parts)))

    def result(self, device_id: str) -> str:
        return self._build("res", validate_id(device_id, "result"))

    def device_state(self, device_id: str) -> str:
        return self._build("dev", validate_id(device_id, "device_state"), "state")

    def device_last(self, device_id: str) -> str:
        """The device's latest result, retained (what Home Assistant re-reads after a
        restart); at most one per ``dashboards.ha_min_interval_s`` per device."""
        return self._build("dev", validate_id(device_id, "device_last"), "last")

    def gateway_state(self, gateway_id: str) -> str:
        return self._build("gw", validate_id(gateway_id, "gateway_state"), "state")

    def gateway_metrics(self, gateway_id: str) -> str:
        return self._build("gw", validate_id(gateway_id, "gateway_metrics"), "metrics")

    def all(self) -> str:
        """One filter for the whole view."""
        return f"{self.root}/#"


def short_float32(x: float) -> float:
    """The shortest decimal that is the same float32: wire floats are float32, so
    ``0.41`` arrives as 0.4099999964...; the JSON view writes ``0.41``."""
    if x != x or x in (float("inf"), float("-inf")):
        return x
    want = struct.pack("<f", x)
    for digits in range(6, 10):
        candidate = float(f"{x:.{digits}g}")
        if struct.pack("<f", candidate) == want:
            return candidate
    return x  # pragma: no cover - 9 significant digits always round-trip a float32


def _tidy(value: Any) -> Any:
    if isinstance(value, float):
        return short_float32(value)
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    return value


def _head(kind: str) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "kind": kind}


def result_view(result: Result, labels: Sequence[str] = ()) -> dict[str, Any]:
    """A result with named fields; ``label_name`` when ``labels`` names its label.
    Optional flags are always present (``degraded``/``stale`` false when absent)."""
    out = _head(Result.KIND) | _tidy(result.to_plain())
    out["degraded"] = result.degraded
    out["stale"] = result.stale
    if 0 <= result.label < len(labels):
        out["label_name"] = labels[result.label]
    return out


def device_state_view(state: DeviceState) -> dict[str, Any]:
    return _head(DeviceState.KIND) | _tidy(state.to_plain())


def service_state_view(state: ServiceState) -> dict[str, Any]:
    return _head(ServiceState.KIND) | state.to_plain()


def metrics_view(metrics: Metrics) -> dict[str, Any]:
    return _head(Metrics.KIND) | _tidy(metrics.to_plain())


def dumps(view: dict[str, Any]) -> bytes:
    """Compact, key-sorted UTF-8 JSON (floats as JSON numbers, never NaN)."""
    return json.dumps(view, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")
