"""The JSON view, HA discovery and the live snapshot on a real mosquitto and gateway."""

from __future__ import annotations

import json
import urllib.request

import jinja2

from edgecascade.gateway.discovery import ENTITIES, GATEWAY_ENTITIES
from edgecascade.gateway.metrics import GatewayMetrics
from edgecascade.protocol import DeviceState, Metrics, decode, encode
from edgecascade.protocol.jsonview import JsonTopics
from tests.gateway.support import report
from tests.support import Collector, publish


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)


def ha_render(template: str, payload: bytes, encoding: str = "utf-8") -> str:
    """As HA renders a template: the payload decoded as the config says, ``value_json``
    bound only to a payload that parses."""
    try:
        bound = {"value_json": json.loads(payload)}
    except ValueError:
        bound = {}
    return ENV.from_string(template).render(value=payload.decode(encoding), **bound).strip()


def entity_states(messages: list, configs: dict[str, dict]) -> dict[str, tuple[str, str]]:
    """unique_id -> (availability, state) from the retained messages a new subscriber got,
    rendered with each entity's templates."""
    retained = {m.topic: m.payload for m in messages if m.retain}
    out = {}
    for cfg in configs.values():
        enc = cfg.get("encoding", "utf-8")
        avail = cfg.get("availability", [{"topic": "", "value_template": "online"}])[0]
        state = retained.get(cfg["state_topic"])
        out[cfg["unique_id"]] = (
            ha_render(avail["value_template"], retained.get(avail["topic"], b""), enc),
            "<nothing retained>" if state is None else
            ha_render(cfg["value_template"], state, enc))
    return out


def test_json_view_discovery_and_retirement(broker, topics, dash_gateway, responder, closing):
    jt = JsonTopics(f"{topics.prefix}/json")
    seen = Collector(broker.host, broker.port, [jt.all(), "ha/#"])
    closing.append(seen)
    gw = dash_gateway(broker.url, topics)
    birth = DeviceState("cam1", True, 1_700_000_000_000, epoch=1, model_id="mnist-mcu",
                        model_version=1)
    publish(broker.host, broker.port, [(topics.device_state("cam1"), encode(birth))],
            retain=True)
    publish(broker.host, broker.port, [(topics.device_report("cam1"),
                                        encode(report("cam1", i, confident=True)))
                                       for i in range(3)])
    got = seen.wait_for(3, 20, where=lambda m: m.topic == jt.result("cam1"))
    views = [json.loads(m.payload) for m in got]
    assert {v["seq"] for v in views} == {0, 1, 2}
    first = views[0]
    assert first["kind"] == "result" and first["schema"] == 1
    assert first["tier"] == "device" and first["label"] == 3 and first["label_name"] == "3"
    assert 0 < first["confidence"] <= 1 and first["degraded"] is False
    state = seen.wait_for(1, 10, where=lambda m: m.topic == jt.device_state("cam1"))[0]
    assert json.loads(state.payload)["online"] is True
    gw_state = seen.wait_for(1, 10, where=lambda m: m.topic == jt.gateway_state("gw1"))[0]
    assert json.loads(gw_state.payload)["online"] is True
    metrics = seen.wait_for(1, 10, where=lambda m: m.topic == jt.gateway_metrics("gw1")
                            and json.loads(m.payload)["values"]
                            .get("ec_gateway_reports_total", 0) >= 3)[-1]
    values = json.loads(metrics.payload)["values"]
    assert all(k.startswith("ec_gateway_") for k in values)
    n_configs = len(ENTITIES) + len(GATEWAY_ENTITIES)
    configs = seen.wait_for(n_configs, 10, where=lambda m: m.topic.endswith("/config")
                            and m.payload)
    device_configs = [m for m in configs if "edgecascade_cam1/" in m.topic]
    assert len(device_configs) == len(ENTITIES)
    # A subscriber arriving later (HA after its restart) gets configs and every state as
    # retained messages: each entity of the device that reported has a state at once.
    late = Collector(broker.host, broker.port, [jt.all(), "ha/#", topics.gateway_state("gw1")])
    closing.append(late)
    parsed = {m.topic: json.loads(m.payload) for m in configs}
    expected = set(parsed) | {c["state_topic"] for c in parsed.values()}
    late.wait_for(len(expected), 10, where=lambda m: m.retain and m.topic in expected)
    states = entity_states(late.messages, parsed)
    assert len(states) == n_configs
    for uid, (available, value) in states.items():
        assert available == "online", uid
        assert value not in ("None", "", "<nothing retained>"), (uid, value)
    assert states["edgecascade_cam1_label"][1] == "3"
    assert states["edgecascade_cam1_model_version"][1] == "mnist-mcu v1"
    assert states["edgecascade_cam1_tier"][1] == "device"
    assert {m.topic.split("/")[1] for m in configs} == {"sensor", "binary_sensor"}

    # The device's last will (no model in it) marks it offline and keeps its entities
    will = DeviceState("cam1", False, 0)
    before = len([m for m in seen.messages if m.topic.endswith("/config")])
    publish(broker.host, broker.port, [(topics.device_state("cam1"), encode(will))],
            retain=True)
    seen.wait_for(1, 10, where=lambda m: m.topic == jt.device_state("cam1")
                  and json.loads(m.payload)["online"] is False)
    assert len([m for m in seen.messages if m.topic.endswith("/config")]) == before

    # HA restarts: its birth message brings every config again
    before = len([m for m in seen.messages if m.topic.endswith("/config")])
    publish(broker.host, broker.port, [("ha/status", b"online")])
    seen.wait_for(before + n_configs, 10, where=lambda m: m.topic.endswith("/config"))

    # the live snapshot carries the gateway's own metric values
    snap = get_json(gw.http_port, "/api/snapshot")
    assert snap["answered"] == 3 and snap["tiers"] == {"device": 3}
    assert snap["devices"][0]["device_id"] == "cam1"
    assert snap["metrics"]["ec_gateway_reports_total"] == gw.metrics.value("reports") == 3

    # retiring the device (its retained state cleared) removes it from HA
    publish(broker.host, broker.port, [(topics.device_state("cam1"), b"")], retain=True)
    rejected = gw.metrics.value("rejected")
    removed = seen.wait_for(len(ENTITIES), 10,
                            where=lambda m: m.topic.endswith("/config") and not m.payload)
    assert gw.metrics.value("rejected") == rejected  # retiring is not an error
    assert {m.topic for m in removed} == {m.topic for m in device_configs}
    # The broker sends retained messages filter by filter: once the gateway's retained
    # JSON state (the last filter) is here, anything retained of the device would be too.
    gone = Collector(broker.host, broker.port,
                     ["ha/#", f"{jt.root}/dev/#", jt.gateway_state("gw1")])
    closing.append(gone)
    gone.wait_for(1, 10, where=lambda m: m.topic == jt.gateway_state("gw1"))
    left = [m.topic for m in gone.messages if m.topic != jt.gateway_state("gw1")]
    assert all("edgecascade_gw_gw1/" in t for t in left), gone.describe()  # the gateway's


def test_views_off_by_default(broker, topics, start_gateway, closing):
    seen = Collector(broker.host, broker.port, [f"{topics.prefix}/json/#", "homeassistant/#",
                                                topics.gateway_metrics("gw1")])
    closing.append(seen)
    start_gateway(broker.url, topics)
    publish(broker.host, broker.port, [(topics.device_report("cam1"),
                                        encode(report("cam1", 0, confident=True)))])
    # A metrics message counting the result comes after the result's publish (and after
    # its JSON twin, were the view on).
    seen.wait_for(1, 20, where=lambda m: decode(Metrics, m.payload).values.get(
        'ec_gateway_results_total{reason="confident",tier="device"}', 0) >= 1)
    assert {m.topic for m in seen.messages} == {topics.gateway_metrics("gw1")}


def test_metrics_summary_names_are_prometheus_samples():
    from prometheus_client import generate_latest

    m = GatewayMetrics()
    m.inc("results", tier="edge", reason="edge_confident")
    m.set("spool_depth", 4)
    text = generate_latest(m.registry).decode()
    for key in m.summary():
        assert f"{key} " in text, key
