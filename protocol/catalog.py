"""Every message type of the wire contract, by the name used in errors, vectors and
PROTOCOL.md (in the order PROTOCOL.md lists them)."""

from __future__ import annotations

from .cloud_messages import CloudAnswer, CloudItem, CloudRequest, CloudResponse
from .fields import WireMessage
from .messages import Frame, Report, Result
from .ota_messages import ModelChunk, ModelManifest, OtaStatus
from .status_messages import DeviceConfig, DeviceState, Metrics, ServiceState

#: Every message type, by the name used in errors, vectors and PROTOCOL.md.
MESSAGE_TYPES: dict[str, type[WireMessage]] = {
    cls.KIND: cls
    for cls in (
        Frame,
        Report,
        Result,
        CloudItem,
        CloudRequest,
        CloudAnswer,
        CloudResponse,
        DeviceState,
        DeviceConfig,
        ServiceState,
        Metrics,
        ModelManifest,
        ModelChunk,
        OtaStatus,
    )
}
