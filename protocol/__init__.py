"""The wire contract shared by firmware, gateway, cloud workers and dashboards.

Pure: no I/O, nothing else of edgecascade imported. See PROTOCOL.md.
"""

from .catalog import MESSAGE_TYPES
from .cloud_messages import CloudAnswer, CloudItem, CloudRequest, CloudResponse
from .codec import confidence_from_wire, confidence_to_wire, decode, encode
from .errors import ProtocolError
from .fields import WireMessage
from .limits import SCHEMA_VERSION, billed_messages
from .messages import Frame, Reason, Report, Result, Tier
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
