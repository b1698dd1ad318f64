"""The wire contract shared by firmware, gateway, cloud workers and dashboards.

Pure: no I/O, nothing else of edgecascade imported but the shared error base
(``edgecascade.errors``); the ``protocol-is-a-leaf`` import-linter contract checks it.
See PROTOCOL.md. The room, by job:

* ``limits`` every size and rate limit (``firmware/generated/ec_limits.h`` is made from it),
  ``topics`` the topic layout and ``DEFAULT_PREFIX``;
* ``fields``/``codec`` the msgpack encoding; ``messages`` (device), ``cloud_messages``,
  ``status_messages``, ``ota_messages`` the payloads, ``catalog.MESSAGE_TYPES`` all of them;
* ``framing`` serial COBS + CRC frames (twin of ``firmware/core/ec_framing.c``);
* ``ratelimit`` the exact sliding window both tiers keep AWS's publish quota with;
* ``claimcheck`` the frame-store seam (``FrameStore``, ``frame_key``, ``ClaimCheckError``).
"""

from .catalog import MESSAGE_TYPES
from .cloud_messages import CloudAnswer, CloudItem, CloudRequest, CloudResponse
from .codec import confidence_from_wire, confidence_to_wire, decode, encode
from .errors import ProtocolError
from .fields import WireMessage
from .limits import SCHEMA_VERSION, billed_messages
from .messages import Frame, Reason, Report, Result, Tier
from .ota_messages import ModelChunk, ModelManifest, OtaStatus
from .status_messages import DeviceConfig, DeviceState, Metrics, ServiceState
from .topics import DEFAULT_PREFIX, ParsedTopic, TopicKind, Topics, validate_id

__all__ = [
    "DEFAULT_PREFIX",
    "MESSAGE_TYPES",
    "SCHEMA_VERSION",
    "CloudAnswer",
    "CloudItem",
    "CloudRequest",
    "CloudResponse",
    "DeviceConfig",
    "DeviceState",
    "Frame",
    "Metrics",
    "ModelChunk",
    "ModelManifest",
    "OtaStatus",
    "ParsedTopic",
    "ProtocolError",
    "Reason",
    "Report",
    "Result",
    "ServiceState",
    "Tier",
    "TopicKind",
    "Topics",
    "WireMessage",
    "billed_messages",
    "confidence_from_wire",
    "confidence_to_wire",
    "decode",
    "encode",
    "validate_id",
]
