"""Regenerates the generated sections of PROTOCOL.md from the code.

``python -m edgecascade.tools.protocol_doc`` rewrites the text between each pair of
``<!-- NAME:begin -->`` / ``<!-- NAME:end -->`` markers: ``fields`` (the message
classes), ``payloads`` (which table each topic kind carries) and ``metrics`` (the
gateway's and workers' metrics, from their registries). A test fails when the
committed document differs, so the doc cannot drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edgecascade.protocol import (
    MESSAGE_TYPES,
    CloudRequest,
    CloudResponse,
    DeviceConfig,
    DeviceState,
    Metrics,
    Report,
    Result,
    ServiceState,
    TopicKind,
    Topics,
    WireMessage,
)
from edgecascade.protocol.fields import (
    Array,
    Bool,
    Bytes,
    Field,
    Float,
    Ident,
    Int,
    Kind,
    Nested,
    OneOf,
    StrMap,
    Text,
    UInt,
)
from edgecascade.protocol.ota_messages import ModelManifest, OtaStatus

DOC = Path(__file__).resolve().parent.parent / "PROTOCOL.md"
BEGIN, END = "<!-- fields:begin -->", "<!-- fields:end -->"

#: The payload table each topic kind carries, and whether the JSON view mirrors it.
PAYLOADS: dict[TopicKind, tuple[type[WireMessage], bool]] = {
    TopicKind.DEVICE_REPORT: (Report, False),
    TopicKind.DEVICE_STATE: (DeviceState, True),
    TopicKind.DEVICE_CONFIG: (DeviceConfig, False),
    TopicKind.RESULT: (Result, True),
    TopicKind.GATEWAY_STATE: (ServiceState, True),
    TopicKind.GATEWAY_METRICS: (Metrics, True),
    TopicKind.CLOUD_REQUEST: (CloudRequest, False),
    TopicKind.CLOUD_RESPONSE: (CloudResponse, False),
    TopicKind.WORKER_STATE: (ServiceState, False),
    TopicKind.DEVICE_OTA: (OtaStatus, False),
    TopicKind.MODEL_MANIFEST: (ModelManifest, False),
}


def describe(kind: Kind) -> str:
    if isinstance(kind, UInt):
        return f"uint{kind.bits}"
    if isinstance(kind, Int):
        return f"int {kind.lo}..{kind.hi}"
    if isinstance(kind, Float):
        bounds = "" if kind.lo == float("-inf") else f" >= {kind.lo:g}"
        if kind.hi != float("inf"):
            bounds = f" {kind.lo:g}..{kind.hi:g}"
        return f"float32{bounds}"
    if isinstance(kind, Bool):
        return "bool"
    if isinstance(kind, Ident):
        return "id (str)"
    if isinstance(kind, Text):
        return f"str <= {kind.max_length}"
    if isinstance(kind, OneOf):
        return "str: " + " \\| ".join(f"`{c}`" for c in kind.choices)
    if isinstance(kind, Bytes):
        return "bin"
    if isinstance(kind, Array):
        return f"array of {describe(kind.item)} ({kind.min_length}..{kind.max_length})"
    if isinstance(kind, StrMap):
        return f"map str -> {describe(kind.value)}"
    if isinstance(kind, Nested):
        return f"map: {kind.cls.KIND}"
    return type(kind).__name__


def row(f: Field) -> str:
    need = "yes" if f.required else "no"
    return f"| {f.key} | `{f.name}` | {describe(f.kind)} | {need} |"


def tables() -> str:
    out = []
    for kind, cls in MESSAGE_TYPES.items():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        out.append(f"#### `{kind}`\n\n{doc}\n")
        if not cls.TOP_LEVEL:
            out.append("Appears only inside other messages; it has no key 0 of its own.\n")
        out.append("| key | field | type | required |\n|---|---|---|---|")
        if cls.TOP_LEVEL:
            out.append("| 0 | `schema` | uint (schema version, currently 1) | yes |")
        out.extend(row(f) for f in cls.FIELDS)
        out.append("")
    return "\n".join(out)


def payloads() -> str:
    from edgecascade.protocol.jsonview import JsonTopics, default_json_root

    topics = Topics()
    json_topics = JsonTopics(default_json_root(topics.prefix))
    builders = {TopicKind.DEVICE_STATE: json_topics.device_state,
                TopicKind.RESULT: json_topics.result,
                TopicKind.GATEWAY_STATE: json_topics.gateway_state,
                TopicKind.GATEWAY_METRICS: json_topics.gateway_metrics}
    out = ["| topic kind | msgpack topic | payload table | JSON view topic |",
           "|---|---|---|---|"]
    for kind, (cls, mirrored) in PAYLOADS.items():
        wire = topics.build(kind, "ID").replace("ID", "{id}")
        view = f"`{builders[kind]('ID').replace('ID', '{id}')}`" if mirrored else "-"
        out.append(f"| `{kind.value}` | `{wire}` | [`{cls.KIND}`](#{cls.KIND}) | {view} |")
    # JSON only: a device's latest result, retained, for Home Assistant (issue 23).
    last = json_topics.device_last("ID").replace("ID", "{id}")
    out.append(f"| `device_last` | - | [`result`](#result) | `{last}` |")
    return "\n".join(out) + "\n"


def metrics() -> str:
    """Every metric of the gateway (topic and Prometheus) and of the workers (Prometheus)."""
    from edgecascade.cloud.metrics import WorkerMetrics
    from edgecascade.gateway import metrics as gm

    out = ["Gateway (on `/metrics` and, except histogram buckets, in the `metrics` topic):",
           "", "| key | kind | unit | labels | meaning |", "|---|---|---|---|---|"]
    for name, (doc, labels) in gm.COUNTERS.items():
        lab = ", ".join(f"`{x}`" for x in labels) or "-"
        out.append(f"| `{gm.counter_sample(name)}` | counter | {gm.unit_of(name)} | {lab} "
                   f"| {doc} |")
    for name, doc in gm.GAUGES.items():
        out.append(f"| `{gm.gauge_sample(name)}` | gauge | {gm.unit_of(name)} | - | {doc} |")
    for name, (doc, unit, labels) in gm.HISTOGRAMS.items():
        lab = ", ".join(f"`{x}`" for x in labels) or "-"
        out.append(f"| `{gm.PREFIX}{name}_count`, `_sum` (`_bucket` on `/metrics` only) "
                   f"| histogram | {unit} | {lab} | {doc} |")
    lab = ", ".join(f"`{x}`" for x in gm.BACKEND_LABELS)
    out.append(f"| `{gm.PREFIX}{gm.BACKEND_INFO}` (on `/metrics` only) | gauge, value 1 | - "
               f"| {lab} | {gm.BACKEND_DOC} |")
    out += ["", "Cloud workers (on their `/metrics` only):", "",
            "| key | kind | meaning |", "|---|---|---|"]
    suffix = {"counter": "_total", "gauge": "", "histogram": "_bucket`, `_sum`, `_count"}
    from prometheus_client.metrics import MetricWrapperBase

    for metric in vars(WorkerMetrics()).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        for fam in metric.describe():
            out.append(f"| `{fam.name}{suffix[fam.type]}` | {fam.type} | {fam.documentation} |")
    return "\n".join(out) + "\n"


SECTIONS = {"fields": tables, "payloads": payloads, "metrics": metrics}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        if begin not in text:
            continue
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{make()}\n{end}{tail}"
    return text


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC
    path.write_text(render(path.read_text()))
    print(f"updated {path}")
