"""Codec properties: round trips, golden vectors, and clean errors on any bad input."""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecascade.protocol import (
    MESSAGE_TYPES,
    DeviceConfig,
    Frame,
    ProtocolError,
    Report,
    WireMessage,
    confidence_to_wire,
    decode,
    encode,
)
from edgecascade.protocol.limits import MAX_PAYLOAD_BYTES
from edgecascade.tools import vectors

from .strategies import BY_KIND

VECTOR_DIR = vectors.VECTOR_DIR
VECTOR_NAMES = sorted(p.stem for p in VECTOR_DIR.glob("*.bin"))


def load_vector(name: str) -> tuple[type[WireMessage], bytes, dict]:
    doc = json.loads((VECTOR_DIR / f"{name}.json").read_text())
    return MESSAGE_TYPES[doc["type"]], (VECTOR_DIR / f"{name}.bin").read_bytes(), doc["message"]


def test_every_message_kind_has_a_strategy_and_a_vector() -> None:
    assert set(BY_KIND) == set(MESSAGE_TYPES)
    kinds_with_vectors = {json.loads(p.read_text())["type"] for p in VECTOR_DIR.glob("*.json")}
    top_level = {kind for kind, cls in MESSAGE_TYPES.items() if cls.TOP_LEVEL}
    assert top_level <= kinds_with_vectors


@pytest.mark.parametrize("kind", sorted(BY_KIND))
def test_round_trip(kind: str) -> None:
    cls = MESSAGE_TYPES[kind]

    @settings(max_examples=150, deadline=None)
    @given(BY_KIND[kind])
    def check(message: WireMessage) -> None:
        data = encode(message)
        assert decode(cls, data) == message
        assert cls.from_plain(json.loads(json.dumps(message.to_plain()))) == message

    check()


@pytest.mark.parametrize("kind", sorted(BY_KIND))
def test_unchecked_builds_what_the_constructor_builds(kind: str) -> None:
    """For valid values ``unchecked`` (no field checks, for the gateway's own results)
    normalises exactly as the constructor does: same message, same bytes."""
    cls = MESSAGE_TYPES[kind]

    @settings(max_examples=100, deadline=None)
    @given(BY_KIND[kind])
    def check(message: WireMessage) -> None:
        raw = {f.name: getattr(message, f.name) for f in cls.FIELDS}
        # what a caller holds: lists instead of tuples, floats not yet float32
        loose = {k: list(v) if isinstance(v, tuple) else
                 v * (1 + 1e-12) if isinstance(v, float) and v not in (0.0, 1.0) else v
                 for k, v in raw.items()}
        for values in (raw, loose):
            built = cls.unchecked(**values)
            assert built == cls(**values)
            assert encode(built) == encode(cls(**values))

    check()


def test_decode_checks_each_field_once_and_cross_field_rules_still_apply() -> None:
    """from_wire validates field by field and then builds without re-validating; the
    message's own cross-field rule (sorted confidences) still rejects."""
    good = Report(device_id="d1", epoch=1, seq=0, ts_ms=1, model_id="m", model_version=1,
                  classes=(3, 5), confidences=(60000, 100))
    assert decode(Report, encode(good)) == good
    wire = msgpack.unpackb(encode(good), strict_map_key=False)
    wire[8] = [100, 60000]  # confidences out of order
    with pytest.raises(ProtocolError, match="confidences"):
        decode(Report, msgpack.packb(wire))
    wire[8] = [100, 70000]  # a field's own range
    with pytest.raises(ProtocolError) as info:
        decode(Report, msgpack.packb(wire))
    assert info.value.where == "confidences[1]"


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_golden_vector_decodes_to_its_json(name: str) -> None:
    cls, data, plain = load_vector(name)
    message = decode(cls, data)
    assert message.to_plain() == plain
    assert encode(cls.from_plain(plain)) == data


def test_committed_vectors_match_the_generator(tmp_path: Path) -> None:
    vectors.write(tmp_path)
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in VECTOR_DIR.iterdir()}
    assert fresh == committed, "run: python -m edgecascade.tools.vectors"


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_every_truncated_prefix_is_a_protocol_error(name: str) -> None:
    cls, data, _ = load_vector(name)
    for cut in range(len(data)):
        with pytest.raises(ProtocolError):
            decode(cls, data[:cut])


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=300), kind=st.sampled_from(sorted(MESSAGE_TYPES)))
def test_garbage_gives_protocol_error_or_a_valid_message(data: bytes, kind: str) -> None:
    cls = MESSAGE_TYPES[kind]
    try:
        message = decode(cls, data)
    except ProtocolError as exc:
        assert exc.what and exc.why
    else:
        assert isinstance(message, cls)


@settings(max_examples=300, deadline=None)
@given(
    obj=st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.floats()
        | st.text()
        | st.binary(),
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.integers(0, 20) | st.text(max_size=3), inner, max_size=6),
        max_leaves=20,
    ),
    kind=st.sampled_from(sorted(MESSAGE_TYPES)),
)
def test_wrong_schema_msgpack_gives_protocol_error(obj: object, kind: str) -> None:
    """Well-formed msgpack of the wrong shape: still only ProtocolError."""
    data = msgpack.packb(obj, use_bin_type=True)
    cls = MESSAGE_TYPES[kind]
    try:
        message = decode(cls, data)
    except ProtocolError as exc:
        assert exc.what == kind
    else:
        assert isinstance(message, cls)


def test_non_bytes_input_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode(Report, "not bytes")  # type: ignore[arg-type]


def _vector_report() -> tuple[bytes, dict]:
    _, data, plain = load_vector("report_top3_confident")
    return data, msgpack.unpackb(data, strict_map_key=False)


def test_unknown_newer_fields_are_tolerated() -> None:
    data, raw = _vector_report()
    raw[0] = 7  # a newer schema version
    raw[99] = "something new"
    raw[100] = {1: [1, 2]}
    assert decode(Report, msgpack.packb(raw, use_single_float=True)) == decode(Report, data)


@pytest.mark.parametrize("key,field", [(1, "device_id"), (3, "seq"), (8, "confidences")])
def test_missing_required_field_names_it(key: int, field: str) -> None:
    _, raw = _vector_report()
    del raw[key]
    with pytest.raises(ProtocolError) as info:
        decode(Report, msgpack.packb(raw))
    assert info.value.what == "report" and info.value.where == field


def test_missing_schema_version_is_rejected() -> None:
    _, raw = _vector_report()
    del raw[0]
    with pytest.raises(ProtocolError) as info:
        decode(Report, msgpack.packb(raw))
    assert info.value.where == "schema"


def test_nested_error_names_the_path() -> None:
    _, data, _ = load_vector("report_unsure_with_frame")
    raw = msgpack.unpackb(data, strict_map_key=False)
    raw[9][2] = [27, 28, 1]  # shape no longer matches the bytes
    with pytest.raises(ProtocolError) as info:
        decode(Report, msgpack.packb(raw, use_single_float=True, use_bin_type=True))
    assert info.value.where == "frame.data"


def test_confident_top3_report_is_small() -> None:
    _, data, _ = load_vector("report_top3_confident")
    assert len(data) <= 64


def test_oversized_payload_is_rejected_both_ways() -> None:
    big = Frame(data=bytes(MAX_PAYLOAD_BYTES), shape=(MAX_PAYLOAD_BYTES // 256, 256))
    report = Report("d", 0, 0, 0, "m", 0, (1,), (1,), frame=big)
    with pytest.raises(ProtocolError):
        encode(report)
    with pytest.raises(ProtocolError):
        decode(Report, b"\x80" * (MAX_PAYLOAD_BYTES + 1))


@pytest.mark.parametrize(
    "kwargs,where",
    [
        ({"conf_threshold": 1.5}, "conf_threshold"),
        ({"margin_threshold": -0.1}, "margin_threshold"),
        ({"complexity_limit": float("nan")}, "complexity_limit"),
    ],
)
def test_out_of_range_config_is_rejected(kwargs: dict, where: str) -> None:
    base = {"revision": 1, "conf_threshold": 0.9, "margin_threshold": 0.2, "complexity_limit": 0.3}
    with pytest.raises(ProtocolError) as info:
        DeviceConfig(**{**base, **kwargs})
    assert info.value.where == where


def test_unsorted_confidences_are_rejected() -> None:
    with pytest.raises(ProtocolError):
        Report("d", 0, 0, 0, "m", 0, (1, 2), (10, 20))


@given(st.floats(0.0, 1.0))
def test_confidence_fixed_point_is_monotonic_and_close(c: float) -> None:
    q = confidence_to_wire(c)
    assert 0 <= q <= 65535
    assert abs(q / 65535 - c) <= 1 / 65535
