"""Hypothesis strategies for every protocol message (valid ones only)."""

from __future__ import annotations

import math
import string

from hypothesis import strategies as st

from edgecascade.protocol import (
    CloudAnswer,
    CloudItem,
    CloudRequest,
    CloudResponse,
    DeviceConfig,
    DeviceState,
    Frame,
    Metrics,
    ModelChunk,
    ModelManifest,
    OtaStatus,
    Report,
    Result,
    ServiceState,
)
from edgecascade.protocol.fields import to_float32
from edgecascade.protocol.messages import FRAME_DTYPES, REASONS, TIERS
from edgecascade.protocol.ota_messages import MODEL_TIERS, OTA_REASONS, OTA_STATES

ID_ALPHABET = string.ascii_letters + string.digits + "_-"
ids = st.text(ID_ALPHABET, min_size=1, max_size=64)
u8 = st.integers(0, 255)
u16 = st.integers(0, 65535)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
texts = st.text(min_size=1, max_size=64)


def floats(lo: float = 0.0, hi: float = 1e9) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=32).map(to_float32)


unit = floats(0.0, 1.0)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    data = draw(st.binary(min_size=math.prod(shape), max_size=math.prod(shape)))
    return Frame(
        data=data,
        shape=shape,
        dtype=draw(st.sampled_from(FRAME_DTYPES)),
        scale=draw(floats(0.0, 10.0)),
        zero_point=draw(st.integers(-128, 255)),
    )


@st.composite
def reports(draw: st.DrawFn) -> Report:
    k = draw(st.integers(1, 10))
    confs = tuple(sorted(draw(st.lists(u16, min_size=k, max_size=k)), reverse=True))
    return Report(
        device_id=draw(ids),
        epoch=draw(u32),
        seq=draw(u32),
        ts_ms=draw(u64),
        model_id=draw(texts),
        model_version=draw(u32),
        classes=tuple(draw(st.lists(u16, min_size=k, max_size=k))),
        confidences=confs,
        frame=draw(st.none() | frames()),
        complexity=draw(st.none() | floats()),
        deadline_ms=draw(st.none() | u32),
        priority=draw(st.none() | u8),
        private=draw(st.booleans()),
    )


results = st.builds(
    Result,
    device_id=ids,
    epoch=u32,
    seq=u32,
    label=u16,
    confidence=unit,
    tier=st.sampled_from(TIERS),
    model_id=texts,
    model_version=u32,
    latency_ms=floats(),
    cost=floats(),
    reason=st.sampled_from(REASONS),
    revision=u16,
    gateway_id=ids,
    ts_ms=u64,
    degraded=st.booleans(),
    stale=st.booleans(),
    age_ms=st.none() | u64,
    escalation=st.none() | st.sampled_from(REASONS),
)


@st.composite
def cloud_items(draw: st.DrawFn) -> CloudItem:
    inline = draw(st.booleans())
    return CloudItem(
        device_id=draw(ids),
        epoch=draw(u32),
        seq=draw(u32),
        frame=draw(frames()) if inline else None,
        frame_ref=None if inline else draw(st.text(min_size=1, max_size=200)),
    )


cloud_requests = st.builds(
    CloudRequest,
    correlation_id=ids,
    gateway_id=ids,
    ts_ms=u64,
    deadline_ms=u32,
    items=st.lists(cloud_items(), min_size=1, max_size=5).map(tuple),
    nonce=st.none() | st.binary(min_size=1, max_size=32),
)


@st.composite
def cloud_answers(draw: st.DrawFn) -> CloudAnswer:
    ok = draw(st.booleans())
    return CloudAnswer(
        device_id=draw(ids),
        epoch=draw(u32),
        seq=draw(u32),
        label=draw(u16) if ok else None,
        confidence=draw(unit) if ok else None,
        error=None if ok else draw(texts),
    )


@st.composite
def cloud_responses(draw: st.DrawFn) -> CloudResponse:
    status = draw(st.sampled_from(("ok", "error")))
    return CloudResponse(
        correlation_id=draw(ids),
        status=status,
        worker_id=draw(ids),
        model_id=draw(texts),
        model_version=draw(u32),
        worker_ms=draw(floats()),
        ts_ms=draw(u64),
        items=tuple(draw(st.lists(cloud_answers(), max_size=5))),
        error=draw(texts) if status == "error" else draw(st.none() | texts),
        nonce=draw(st.none() | st.binary(min_size=1, max_size=32)),
    )


device_states = st.builds(
    DeviceState,
    device_id=ids,
    online=st.booleans(),
    ts_ms=u64,
    epoch=st.none() | u32,
    model_id=st.none() | texts,
    model_version=st.none() | u32,
    fw_version=st.none() | st.text(min_size=1, max_size=32),
    dropped=st.none() | u32,
)
device_configs = st.builds(
    DeviceConfig,
    revision=u32,
    conf_threshold=unit,
    margin_threshold=unit,
    complexity_limit=floats(),
    epoch=st.none() | u32,
)
service_states = st.builds(
    ServiceState,
    service_id=ids,
    online=st.booleans(),
    ts_ms=u64,
    version=st.none() | st.text(min_size=1, max_size=32),
    model_id=st.none() | texts,
)
metrics = st.builds(
    Metrics,
    service_id=ids,
    ts_ms=u64,
    values=st.dictionaries(st.text(min_size=1, max_size=40), floats(-1e6, 1e6), max_size=20),
)


@st.composite
def model_manifests(draw: st.DrawFn) -> ModelManifest:
    chunk = draw(st.integers(128, 64 * 1024))
    size = draw(st.integers(1, min(128 * 1024, chunk * 1024)))
    return ModelManifest(
        model_id=draw(texts), version=draw(st.integers(1, 2**32 - 1)),
        tier=draw(st.sampled_from(MODEL_TIERS)), sha256=draw(st.binary(min_size=32, max_size=32)),
        size=size, arena_bytes=draw(u32), chunk_bytes=chunk,
        conf_threshold=draw(floats(0.0, 1.0)), margin_threshold=draw(floats(0.0, 1.0)),
        complexity_limit=draw(floats(0.0, 10.0)),
        devices=tuple(draw(st.lists(ids, max_size=5))),
    )


model_chunks = st.builds(
    ModelChunk, model_id=texts, version=u32, index=u16, offset=u32,
    data=st.binary(min_size=1, max_size=300),
)
ota_statuses = st.builds(
    OtaStatus, device_id=ids, ts_ms=u64, model_id=texts, version=u32,
    state=st.sampled_from(OTA_STATES), reason=st.sampled_from(OTA_REASONS), running_version=u32,
)

#: One strategy per message kind; a test checks this covers MESSAGE_TYPES.
BY_KIND: dict[str, st.SearchStrategy] = {
    "frame": frames(),
    "report": reports(),
    "result": results,
    "cloud_item": cloud_items(),
    "cloud_request": cloud_requests,
    "cloud_answer": cloud_answers(),
    "cloud_response": cloud_responses(),
    "device_state": device_states,
    "device_config": device_configs,
    "service_state": service_states,
    "metrics": metrics,
    "model_manifest": model_manifests(),
    "model_chunk": model_chunks,
    "ota_status": ota_statuses,
}
