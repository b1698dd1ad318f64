"""The JSON view, HA discovery and the live snapshot on a real mosquitto and gateway."""

from __future__ import annotations

import json
import urllib.request

from edgecascade.gateway.metrics import GatewayMetrics
from edgecascade.protocol import DeviceState, Metrics, decode, encode
from edgecascade.protocol.jsonview import JsonTopics
from tests.gateway.support import report
from tests.support import Collector, publish


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


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
    configs = seen.wait_for(6, 10, where=lambda m: m.topic.endswith("/config") and m.payload)
    # a subscriber arriving later (HA starting) gets configs and states as retained messages
    late = Collector(broker.host, broker.port, [jt.all(), "ha/#"])
    closing.append(late)
    expected = {m.topic for m in configs} | {jt.device_state("cam1"), jt.gateway_state("gw1")}
    late.wait_for(len(expected), 10, where=lambda m: m.retain and m.topic in expected)
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
    seen.wait_for(before + 6, 10, where=lambda m: m.topic.endswith("/config"))

    # the live snapshot carries the gateway's own metric values
    snap = get_json(gw.http_port, "/api/snapshot")
    assert snap["answered"] == 3 and snap["tiers"] == {"device": 3}
    assert snap["devices"][0]["device_id"] == "cam1"
    assert snap["metrics"]["ec_gateway_reports_total"] == gw.metrics.value("reports") == 3

    # retiring the device (its retained state cleared) removes it from HA
    publish(broker.host, broker.port, [(topics.device_state("cam1"), b"")], retain=True)
    rejected = gw.metrics.value("rejected")
    removed = seen.wait_for(6, 10, where=lambda m: m.topic.endswith("/config") and not m.payload)
    assert gw.metrics.value("rejected") == rejected  # retiring is not an error
    assert {m.topic for m in removed} == {m.topic for m in configs}
    # The broker sends retained messages filter by filter: once the gateway's retained
    # JSON state (the last filter) is here, anything retained of the device would be too.
    gone = Collector(broker.host, broker.port,
                     ["ha/#", jt.device_state("cam1"), jt.gateway_state("gw1")])
    closing.append(gone)
    gone.wait_for(1, 10, where=lambda m: m.topic == jt.gateway_state("gw1"))
    assert [m.topic for m in gone.messages] == [jt.gateway_state("gw1")], gone.describe()


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
