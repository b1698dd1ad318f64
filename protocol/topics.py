"""Topic builders and the topic parser: every topic of the system is built here.

Layout (``{p}`` is the prefix, ``ec/v1`` by default)::

    {p}/dev/{device}/report      device -> gateway   QoS 1, not retained
    {p}/dev/{device}/state       device birth / LWT  QoS 1, retained
    {p}/dev/{device}/config      gateway -> device   QoS 1, retained
    {p}/res/{device}             final results        QoS 1, not retained
    {p}/gw/{gateway}/state       gateway birth / LWT QoS 1, retained
    {p}/gw/{gateway}/metrics     metrics summary      QoS 0, retained
    {p}/cloud/req/{gateway}      gateway -> workers   QoS 1, not retained
    {p}/cloud/res/{gateway}      workers -> gateway   QoS 1, not retained
    {p}/wk/{worker}/state        worker birth / LWT  QoS 1, retained
    {p}/dev/{device}/ota         device OTA outcome  QoS 1, retained
    {p}/models/{tier}/manifest   model manifest      QoS 1, retained
    {p}/models/{tier}/v{N}/{i}   model chunk i of N  QoS 1, retained
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .errors import ProtocolError
from .limits import (
    ID_PATTERN,
    MAX_PREFIX_ROOT_LENGTH,
    MAX_TOPIC_BYTES,
    MAX_TOPIC_SLASHES,
)

_ID_RE = re.compile(rf"^{ID_PATTERN}$")
_ROOT_RE = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_PREFIX_ROOT_LENGTH}}}$")
_VERSION_RE = re.compile(r"^v[0-9]{1,3}$")

DEFAULT_PREFIX = "ec/v1"


class TopicKind(str, Enum):
    DEVICE_REPORT = "device_report"
    DEVICE_STATE = "device_state"
    DEVICE_CONFIG = "device_config"
    RESULT = "result"
    GATEWAY_STATE = "gateway_state"
    GATEWAY_METRICS = "gateway_metrics"
    CLOUD_REQUEST = "cloud_request"
    CLOUD_RESPONSE = "cloud_response"
    WORKER_STATE = "worker_state"
    DEVICE_OTA = "device_ota"
    MODEL_MANIFEST = "model_manifest"


#: Topic suffix patterns; ``{id}`` is the one id segment. One line per kind.
_PATTERNS: dict[TopicKind, tuple[str, ...]] = {
    TopicKind.DEVICE_REPORT: ("dev", "{id}", "report"),
    TopicKind.DEVICE_STATE: ("dev", "{id}", "state"),
    TopicKind.DEVICE_CONFIG: ("dev", "{id}", "config"),
    TopicKind.RESULT: ("res", "{id}"),
    TopicKind.GATEWAY_STATE: ("gw", "{id}", "state"),
    TopicKind.GATEWAY_METRICS: ("gw", "{id}", "metrics"),
    TopicKind.CLOUD_REQUEST: ("cloud", "req", "{id}"),
    TopicKind.CLOUD_RESPONSE: ("cloud", "res", "{id}"),
    TopicKind.WORKER_STATE: ("wk", "{id}", "state"),
    TopicKind.DEVICE_OTA: ("dev", "{id}", "ota"),
    TopicKind.MODEL_MANIFEST: ("models", "{id}", "manifest"),
}


def validate_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is a valid device/gateway/worker id, else raise."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ProtocolError(what, "", f"id must match {ID_PATTERN}, got {value!r:.80}")
    return value


def check_topic_limits(topic: str) -> str:
    """Raise unless ``topic`` is within AWS IoT Core's size and depth limits."""
    size = len(topic.encode("utf-8"))
    if size > MAX_TOPIC_BYTES:
        raise ProtocolError("topic", "", f"{size} bytes exceeds {MAX_TOPIC_BYTES}")
    slashes = topic.count("/")
    if topic.startswith("$share/"):
        # AWS IoT Core does not count the $share/<group>/ part of a shared filter.
        slashes -= 2
    if slashes > MAX_TOPIC_SLASHES:
        raise ProtocolError("topic", "", f"{slashes} slashes exceed {MAX_TOPIC_SLASHES}")
    return topic


@dataclass(frozen=True)
class ParsedTopic:
    kind: TopicKind
    id: str


@dataclass(frozen=True)
class Topics:
    """All topics under one prefix (``<root>/v<N>``)."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        parts = self.prefix.split("/")
        if len(parts) != 2 or not _ROOT_RE.match(parts[0]) or not _VERSION_RE.match(parts[1]):
            raise ProtocolError(
                "topic",
                "prefix",
                f"prefix must be '<root>/v<N>' with root {_ROOT_RE.pattern}, got {self.prefix!r}",
            )

    def build(self, kind: TopicKind, id_: str) -> str:
        validate_id(id_, kind.value)
        suffix = "/".join(id_ if p == "{id}" else p for p in _PATTERNS[kind])
        return check_topic_limits(f"{self.prefix}/{suffix}")

    def filter(self, kind: TopicKind, shared_group: str | None = None) -> str:
        """Subscription filter for every id of ``kind``, optionally as a shared subscription."""
        suffix = "/".join("+" if p == "{id}" else p for p in _PATTERNS[kind])
        topic = f"{self.prefix}/{suffix}"
        if shared_group is not None:
            validate_id(shared_group, "shared_group")
            topic = f"$share/{shared_group}/{topic}"
        return check_topic_limits(topic)

    # One builder per kind, so call sites read well.
    def device_report(self, device_id: str) -> str:
        return self.build(TopicKind.DEVICE_REPORT, device_id)

    def device_state(self, device_id: str) -> str:
        return self.build(TopicKind.DEVICE_STATE, device_id)

    def device_config(self, device_id: str) -> str:
        return self.build(TopicKind.DEVICE_CONFIG, device_id)

    def result(self, device_id: str) -> str:
        return self.build(TopicKind.RESULT, device_id)

    def gateway_state(self, gateway_id: str) -> str:
        return self.build(TopicKind.GATEWAY_STATE, gateway_id)

    def gateway_metrics(self, gateway_id: str) -> str:
        return self.build(TopicKind.GATEWAY_METRICS, gateway_id)

    def cloud_request(self, gateway_id: str) -> str:
        return self.build(TopicKind.CLOUD_REQUEST, gateway_id)

    def cloud_response(self, gateway_id: str) -> str:
        return self.build(TopicKind.CLOUD_RESPONSE, gateway_id)

    def worker_state(self, worker_id: str) -> str:
        return self.build(TopicKind.WORKER_STATE, worker_id)

    def device_ota(self, device_id: str) -> str:
        return self.build(TopicKind.DEVICE_OTA, device_id)

    def model_manifest(self, tier: str) -> str:
        return self.build(TopicKind.MODEL_MANIFEST, tier)

    def model_chunk(self, tier: str, version: int, index: int) -> str:
        """Chunk ``index`` of model ``version`` of ``tier`` (two ids: not in ``parse``)."""
        return check_topic_limits(f"{self._chunk_root(tier, version)}/{int(index)}")

    def model_chunk_filter(self, tier: str, version: int) -> str:
        """Every chunk of model ``version`` of ``tier``."""
        return check_topic_limits(f"{self._chunk_root(tier, version)}/+")

    def _chunk_root(self, tier: str, version: int) -> str:
        validate_id(tier, "model_chunk")
        if not 0 <= int(version) <= 0xFFFFFFFF:
            raise ProtocolError("topic", "version", f"version {version} is not a u32")
        return f"{self.prefix}/models/{tier}/v{int(version)}"

    def parse(self, topic: str) -> ParsedTopic:
        """Which kind and id a concrete topic names; ``ProtocolError`` if none."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            raise ProtocolError("topic", "", f"{topic!r:.120} is not under prefix {self.prefix!r}")
        parts = topic[len(head) :].split("/")
        for kind, pattern in _PATTERNS.items():
            if len(parts) != len(pattern):
                continue
            id_: str | None = None
            for part, want in zip(parts, pattern, strict=True):
                if want == "{id}":
                    id_ = part
                elif part != want:
                    break
            else:
                assert id_ is not None
                return ParsedTopic(kind, validate_id(id_, kind.value))
        raise ProtocolError("topic", "", f"{topic!r:.120} matches no known topic kind")
