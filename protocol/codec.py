"""The msgpack codec: ``encode(message) -> bytes`` and ``decode(cls, bytes) -> message``.

Sans-I/O and deterministic: fields are written in key order, integers in their
smallest msgpack form, floats as float32, optional fields left out while at their
default. The C encoder in ``firmware/core`` writes the same bytes.

Decoding anything at all either returns a valid message or raises
:class:`ProtocolError`; no other exception escapes.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgpack

from .errors import ProtocolError
from .fields import WireMessage, to_float32
from .limits import CONFIDENCE_SCALE, MAX_PAYLOAD_BYTES, SCHEMA_VERSION

M = TypeVar("M", bound=WireMessage)

SCHEMA_KEY = 0


def encode(message: WireMessage, max_bytes: int = MAX_PAYLOAD_BYTES) -> bytes:
    """Serialise ``message``; raises ``ProtocolError`` if it exceeds the payload limit
    (AWS IoT's by default; the site's for what only crosses the site broker)."""
    wire = {SCHEMA_KEY: SCHEMA_VERSION, **message.to_wire()}
    data: bytes = msgpack.packb(wire, use_bin_type=True, use_single_float=True)
    if len(data) > max_bytes:
        raise ProtocolError(
            message.KIND, "", f"payload of {len(data)} bytes exceeds {max_bytes}"
        )
    return data


def decode(cls: type[M], data: Any, max_bytes: int = MAX_PAYLOAD_BYTES) -> M:
    """Parse ``data`` as a ``cls`` message, or raise ``ProtocolError`` saying why."""
    what = cls.KIND
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(what, "", f"expected bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise ProtocolError(what, "", f"payload of {len(data)} bytes exceeds {max_bytes}")
    if len(data) == 0:
        raise ProtocolError(what, "", "empty payload")
    try:
        raw = msgpack.unpackb(
            bytes(data),
            raw=False,
            strict_map_key=False,
            use_list=True,
        )
    except Exception as exc:  # msgpack raises a family of errors; we promise one
        raise ProtocolError(what, "", f"not valid msgpack ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise ProtocolError(what, "", f"expected a map, got {type(raw).__name__}")
    version = raw.get(SCHEMA_KEY)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProtocolError(
            what, "schema", f"schema version (key 0) missing or bad: {version!r:.20}"
        )
    try:
        return cls.from_wire(raw)
    except ProtocolError:
        raise
    except Exception as exc:  # a field check tripped on an odd type: still our error
        raise ProtocolError(what, "", f"malformed ({type(exc).__name__})") from None


def confidence_to_wire(confidence: float) -> int:
    """Fixed-point confidence as the device sends it, rounded the way C float32 does."""
    c = to_float32(min(max(float(confidence), 0.0), 1.0))
    scaled = to_float32(to_float32(c * CONFIDENCE_SCALE) + 0.5)
    return min(int(scaled), CONFIDENCE_SCALE)


def confidence_from_wire(value: int) -> float:
    return value / CONFIDENCE_SCALE
