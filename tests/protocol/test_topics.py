"""Topic builders and parser: ids validated, AWS IoT Core limits never exceeded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgecascade.protocol import ProtocolError, TopicKind, Topics
from edgecascade.protocol.limits import (
    MAX_PREFIX_ROOT_LENGTH,
    MAX_TOPIC_BYTES,
    MAX_TOPIC_SLASHES,
)
from edgecascade.protocol.topics import check_topic_limits

from .strategies import ID_ALPHABET, ids

roots = st.text(ID_ALPHABET, min_size=1, max_size=MAX_PREFIX_ROOT_LENGTH)
prefixes = st.builds(lambda r, v: f"{r}/v{v}", roots, st.integers(0, 999))


def within_limits(topic: str) -> bool:
    slashes = topic.count("/") - (2 if topic.startswith("$share/") else 0)
    return len(topic.encode()) <= MAX_TOPIC_BYTES and slashes <= MAX_TOPIC_SLASHES


@given(prefix=prefixes, id_=ids, kind=st.sampled_from(list(TopicKind)))
def test_every_built_topic_is_within_aws_limits_and_parses_back(
    prefix: str, id_: str, kind: TopicKind
) -> None:
    topics = Topics(prefix)
    topic = topics.build(kind, id_)
    assert within_limits(topic)
    parsed = topics.parse(topic)
    assert (parsed.kind, parsed.id) == (kind, id_)


@given(prefix=prefixes, group=ids, kind=st.sampled_from(list(TopicKind)))
def test_filters_and_shared_filters_are_within_limits(
    prefix: str, group: str, kind: TopicKind
) -> None:
    topics = Topics(prefix)
    assert within_limits(topics.filter(kind))
    shared = topics.filter(kind, shared_group=group)
    assert shared.startswith(f"$share/{group}/") and within_limits(shared)


def test_longest_possible_topic_is_within_limits() -> None:
    topics = Topics("r" * MAX_PREFIX_ROOT_LENGTH + "/v999")
    for kind in TopicKind:
        assert within_limits(topics.build(kind, "x" * 64))
        assert within_limits(topics.filter(kind, shared_group="g" * 64))


@pytest.mark.parametrize(
    "bad", ["", "a/b", "+", "#", "dev+1", "$SYS", "x" * 65, "caf\u00e9", "a b", "a\x00b"]
)
def test_bad_ids_are_rejected(bad: str) -> None:
    with pytest.raises(ProtocolError) as info:
        Topics().device_report(bad)
    assert info.value.what == "device_report"


@pytest.mark.parametrize("bad", ["ec", "ec/1", "ec/v1/x", "$aws/v1", "e+c/v1", "/v1", "ec/vx"])
def test_bad_prefixes_are_rejected(bad: str) -> None:
    with pytest.raises(ProtocolError):
        Topics(bad)


@pytest.mark.parametrize(
    "topic",
    ["other/v1/dev/a/report", "ec/v1/dev/a", "ec/v1/dev/a/b/report", "ec/v1/dev/+/report",
     "ec/v1/nope/a", "ec/v1/cloud/req/a/b", "ec/v1/dev/$x/report"],
)
def test_parse_rejects_unknown_topics(topic: str) -> None:
    with pytest.raises(ProtocolError):
        Topics().parse(topic)


def test_limit_checker_rejects_long_and_deep_topics() -> None:
    with pytest.raises(ProtocolError):
        check_topic_limits("a" * (MAX_TOPIC_BYTES + 1))
    with pytest.raises(ProtocolError):
        check_topic_limits("/".join("a" * (MAX_TOPIC_SLASHES + 2)))


def test_default_layout() -> None:
    t = Topics()
    assert t.device_report("cam-01") == "ec/v1/dev/cam-01/report"
    assert t.result("cam-01") == "ec/v1/res/cam-01"
    assert t.cloud_request("gw-1") == "ec/v1/cloud/req/gw-1"
    assert t.filter(TopicKind.CLOUD_REQUEST, "workers") == "$share/workers/ec/v1/cloud/req/+"
