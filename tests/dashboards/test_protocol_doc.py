"""PROTOCOL.md, read as a dashboard author would, agrees with the codec and the wire.

Every golden vector decodes with the table its type names; every field table in the
document matches the codec's fields; the metrics keys, the JSON example and the key
maps of the Python and JavaScript examples are checked against the code; the
overlapping-subscription note is checked against the mosquitto in use.
"""

from __future__ import annotations

import ast
import json
import re
import time
from pathlib import Path

import msgpack
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgecascade.gateway.metrics import GatewayMetrics
from edgecascade.protocol import MESSAGE_TYPES, Result, TopicKind, decode, encode
from edgecascade.protocol.jsonview import result_view
from edgecascade.tools import protocol_doc

REPO = Path(__file__).resolve().parents[2]
VECTORS = sorted((REPO / "protocol" / "vectors").glob("*.json"))
ROW_RE = re.compile(r"^\| (\d+) \| `([a-z_0-9]+)` \| (.+) \| (yes|no) \|$")


def doc() -> str:
    return protocol_doc.DOC.read_text()


def doc_tables() -> dict[str, list[tuple[int, str, str, bool]]]:
    """``#### `kind``` sections of the Fields part: their rows as written."""
    tables: dict[str, list[tuple[int, str, str, bool]]] = {}
    current = None
    fields = doc().split("<!-- fields:begin -->")[1].split("<!-- fields:end -->")[0]
    for line in fields.splitlines():
        if line.startswith("#### `"):
            current = line.strip("#` ")
            tables[current] = []
        elif (m := ROW_RE.match(line)) and current is not None:
            tables[current].append((int(m[1]), m[2], m[3], m[4] == "yes"))
    return tables


def code_block(lang: str, after: str) -> str:
    text = doc()
    start = text.index(f"```{lang}\n", text.index(after)) + len(lang) + 4
    return text[start:text.index("```", start)]


def test_every_field_table_matches_the_codec() -> None:
    tables = doc_tables()
    assert set(tables) == set(MESSAGE_TYPES)
    for kind, cls in MESSAGE_TYPES.items():
        rows = [r for r in tables[kind] if r[0] != 0]
        want = [(f.key, f.name, protocol_doc.describe(f.kind), f.required) for f in cls.FIELDS]
        assert rows == want, kind
        assert (0, "schema") in {(r[0], r[1]) for r in tables[kind]} or not cls.TOP_LEVEL


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_every_golden_vector_decodes_with_its_documented_table(path: Path) -> None:
    spec = json.loads(path.read_text())
    cls = MESSAGE_TYPES[spec["type"]]
    wire = path.with_suffix(".bin").read_bytes()
    msg = decode(cls, wire)
    assert msg == cls.from_plain(spec["message"]) and encode(msg) == wire
    documented = {r[0]: r[1] for r in doc_tables()[cls.KIND]}
    raw = msgpack.unpackb(wire, strict_map_key=False)
    for key in raw:  # every integer key on the wire is in the table, under its name
        assert key in documented, (path.stem, key)
        if key:
            assert documented[key] in spec["message"], (path.stem, key)


def test_every_topic_kind_maps_to_a_table_and_a_vector() -> None:
    kinds = {json.loads(p.read_text())["type"] for p in VECTORS}
    table = doc().split("<!-- payloads:begin -->")[1].split("<!-- payloads:end -->")[0]
    for kind in TopicKind:
        cls, _ = protocol_doc.PAYLOADS[kind]
        assert f"| `{kind.value}` |" in table and f"[`{cls.KIND}`]" in table
        assert cls.KIND in kinds, f"no golden vector for {cls.KIND}"


def test_metrics_keys_one_style_in_vector_topic_and_prometheus() -> None:
    vector = json.loads((REPO / "protocol/vectors/metrics.json").read_text())
    m = GatewayMetrics()
    m.inc("reports", 1200)
    m.inc("results", 1000, tier="device", reason="confident")
    summary = m.summary()
    for key in vector["message"]["values"]:
        assert key in summary, key  # the vector's keys are real summary keys
    documented = doc().split("<!-- metrics:begin -->")[1]
    for key in summary:
        base = key.split("{")[0]
        base = re.sub(r"_(count|sum)$", "", base) if "latency" in base or "batch" in base \
            else base
        assert f"`{base}" in documented, key


def test_json_example_is_what_the_gateway_publishes() -> None:
    example = json.loads(code_block("json", "## The JSON view"))
    fields = {f.name for f in Result.FIELDS}
    result = Result.from_plain({k: v for k, v in example.items() if k in fields})
    assert result_view(result, tuple("0123456789")) == example


def test_example_key_maps_match_the_result_table() -> None:
    names = {f.key: f.name for f in Result.FIELDS}
    py = code_block("python", "## A dashboard in ten lines")
    py_keys = ast.literal_eval(py.split("KEYS = ", 1)[1].split("\ndef", 1)[0])
    js = code_block("js", "With JavaScript")
    js_keys = ast.literal_eval(js.split("const KEYS = ", 1)[1].split(";", 1)[0]
                               .replace("\n", " "))
    for keys in (py_keys, js_keys):
        assert keys and all(names[k] == v for k, v in keys.items()), keys


def test_overlapping_subscriptions_note_matches_this_broker(broker) -> None:
    """The note says: mosquitto 2 sends one copy to a 3.1.1 client, one per matching
    subscription to an MQTT 5 client."""
    copies = {}
    for proto in (mqtt.MQTTv311, mqtt.MQTTv5):
        got: list[str] = []
        subscribed: list[int] = []
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=proto)
        c.on_message = lambda c, u, m, got=got: got.append(m.topic)
        c.on_subscribe = lambda *a, subscribed=subscribed: subscribed.append(1)
        c.connect(broker.host, broker.port)
        c.loop_start()
        c.subscribe([("ov/#", 1), ("ov/+", 1)])
        deadline = time.monotonic() + 10
        while not subscribed and time.monotonic() < deadline:
            time.sleep(0.01)
        c.publish("ov/x", b"1", qos=1).wait_for_publish(10)
        c.publish("ov/end/marker", b"1", qos=1).wait_for_publish(10)  # matches ov/# only
        while "ov/end/marker" not in got and time.monotonic() < deadline:
            time.sleep(0.01)
        c.loop_stop()
        c.disconnect()
        copies[proto] = got.count("ov/x")
    assert copies == {mqtt.MQTTv311: 1, mqtt.MQTTv5: 2}
