"""Home Assistant discovery payloads, checked field by field against HA's documented
schema, and their templates rendered (Jinja2, as HA does) against real JSON results.

The schema below is transcribed from Home Assistant's documentation:
- discovery: https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery
  (topic ``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config``, ids
  ``[a-zA-Z0-9_-]``, an empty retained payload deletes, birth ``online`` on
  ``homeassistant/status``; the ``device`` and ``origin`` maps)
- https://www.home-assistant.io/integrations/sensor.mqtt/ (configuration variables)
- https://www.home-assistant.io/integrations/binary_sensor.mqtt/
"""

from __future__ import annotations

import json
import re
from typing import Any

import jinja2
import pytest

from edgecascade.gateway.dashboards import retire_topics
from edgecascade.gateway.discovery import ENTITIES, GATEWAY_ENTITIES, Discovery
from edgecascade.protocol import DeviceState, Result, ServiceState, Topics, encode
from edgecascade.protocol.jsonview import JsonTopics, device_state_view, result_view

STR, INT, BOOL, LIST, MAP = str, int, bool, list, dict
TEMPLATE = "template"  # a string HA renders with Jinja2

#: Keys every MQTT entity accepts (availability, device, attributes, ...).
COMMON: dict[str, Any] = {
    "availability": LIST, "availability_mode": ("all", "any", "latest"),
    "availability_template": TEMPLATE, "availability_topic": STR, "device": MAP,
    "enabled_by_default": BOOL, "encoding": STR, "entity_category": ("config", "diagnostic"),
    "entity_picture": STR, "expire_after": INT, "force_update": BOOL, "icon": STR,
    "json_attributes_template": TEMPLATE, "json_attributes_topic": STR, "name": STR,
    "default_entity_id": STR, "origin": MAP, "payload_available": STR,
    "payload_not_available": STR, "qos": (0, 1, 2), "state_topic": STR, "unique_id": STR,
    "value_template": TEMPLATE,
}
SCHEMA: dict[str, dict[str, Any]] = {
    "sensor": COMMON | {
        "device_class": STR, "last_reset_value_template": TEMPLATE, "options": LIST,
        "state_class": ("measurement", "measurement_angle", "total", "total_increasing"),
        "suggested_display_precision": INT, "unit_of_measurement": STR,
    },
    "binary_sensor": COMMON | {
        "device_class": STR, "off_delay": INT, "payload_off": STR, "payload_on": STR,
    },
}
REQUIRED = {"sensor": {"state_topic"}, "binary_sensor": {"state_topic"}}
AVAILABILITY = {"topic": STR, "payload_available": STR, "payload_not_available": STR,
                "value_template": TEMPLATE}
DEVICE = {"configuration_url": STR, "connections": LIST, "hw_version": STR,
          "identifiers": LIST, "manufacturer": STR, "model": STR, "model_id": STR,
          "name": STR, "serial_number": STR, "suggested_area": STR, "sw_version": STR,
          "via_device": STR}
ORIGIN = {"name": STR, "sw_version": STR, "support_url": STR}
#: Binary sensor device classes in HA's list that mean "something is wrong".
BINARY_CLASSES = {"problem", "safety", "tamper", "connectivity"}
TOPIC_RE = re.compile(r"^(?P<prefix>[^/#+]+)/(?P<component>sensor|binary_sensor)/"
                      r"(?P<node>[a-zA-Z0-9_-]+)/(?P<object>[a-zA-Z0-9_-]+)/config$")

JT = JsonTopics("ec/v1/json")
DISCOVERY = Discovery(JT, "0.1.0")
ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)


def check_value(where: str, value: Any, want: Any) -> None:
    if want == TEMPLATE:
        assert isinstance(value, str), where
        ENV.parse(value)  # a syntax error fails here
    elif isinstance(want, tuple):
        assert value in want, f"{where}: {value!r} not one of {want}"
    else:
        assert type(value) is want, f"{where}: {type(value).__name__}, want {want.__name__}"


def check_map(where: str, got: dict[str, Any], schema: dict[str, Any]) -> None:
    for key, value in got.items():
        assert key in schema, f"{where}.{key} is not in Home Assistant's schema"
        check_value(f"{where}.{key}", value, schema[key])


def payloads() -> list[tuple[str, dict[str, Any]]]:
    return [(t, json.loads(b)) for t, b in DISCOVERY.configs("cam1", "mnist-mcu v1")
            + DISCOVERY.gateway_configs("gw1")]


@pytest.mark.parametrize("topic,payload", payloads(), ids=lambda v: str(v)[:40])
def test_payload_follows_the_documented_schema(topic: str, payload: dict[str, Any]) -> None:
    m = TOPIC_RE.match(topic)
    assert m and m["prefix"] == "homeassistant", topic
    component = m["component"]
    check_map(component, payload, SCHEMA[component])
    assert REQUIRED[component] <= payload.keys()
    # unique_id + device block: HA groups the entities under one device
    assert payload["unique_id"].startswith(m["node"]) and payload["device"]["identifiers"]
    check_map("device", payload["device"], DEVICE)
    check_map("origin", payload["origin"], ORIGIN)
    assert "name" in payload["origin"]  # required when origin is given
    assert "availability_topic" not in payload  # "must not be used together"
    for i, a in enumerate(payload.get("availability", [])):
        check_map(f"availability[{i}]", a, AVAILABILITY)
        assert "topic" in a  # required in each entry
        assert a["topic"] in (JT.device_state("cam1"), Topics().gateway_state("gw1"))
    if payload.get("device_class") == "enum":  # HA: enum needs options, no unit/state_class
        assert payload["options"] and "unit_of_measurement" not in payload
        assert "state_class" not in payload
    if component == "binary_sensor":
        assert payload["device_class"] in BINARY_CLASSES


def test_one_device_six_entities_unique_ids() -> None:
    got = [(t, json.loads(b)) for t, b in DISCOVERY.configs("cam1", "mnist-mcu v1")]
    assert len(got) == len(ENTITIES) == 6
    assert len({p["unique_id"] for _, p in got}) == 6
    assert len({json.dumps(p["device"], sort_keys=True) for _, p in got}) == 1
    names = {p["name"] for _, p in got}
    assert names == {"Label", "Confidence", "Answering tier", "Degraded", "Stale",
                     "Device model"}
    # every state HA reads is retained: the latest result and the device state
    assert {p["state_topic"] for _, p in got} == {JT.device_last("cam1"),
                                                   JT.device_state("cam1")}


def test_the_gateway_is_one_ha_device_of_its_own() -> None:
    got = [json.loads(b) for _, b in DISCOVERY.gateway_configs("gw1")]
    assert len(got) == len(GATEWAY_ENTITIES)
    assert len({json.dumps(p["device"], sort_keys=True) for p in got}) == 1
    assert got[0]["device"]["identifiers"] != json.loads(
        DISCOVERY.configs("gw1")[0][1])["device"]["identifiers"]  # not a device named gw1
    assert {p["state_topic"] for p in got} == {Topics().gateway_state("gw1"),
                                                JT.gateway_metrics("gw1")}
    assert {"Online", "Cloud circuit", "Spooled frames", "Cloud cost",
            "Device answer share", "Cloud answer share"} <= {p["name"] for p in got}
    # metrics-fed entities go unavailable when the metrics stop (a stuck gateway)
    assert all(p["expire_after"] == 60 for p in got
               if p["state_topic"] == JT.gateway_metrics("gw1"))


def render(template: str, view: dict[str, Any]) -> str:
    return ENV.from_string(template).render(value_json=view, value=json.dumps(view)).strip()


def test_templates_render_the_json_view_as_ha_would() -> None:
    result = Result("cam1", 1, 7, 4, 0.8731, "cloud", "mnist-cloud", 2, 80.5, 0.05,
                    "cloud_answer", 0, "gw1", 1_700_000_000_000, degraded=True,
                    escalation="low_confidence")
    view = json.loads(json.dumps(result_view(result, tuple("0123456789"))))
    by_id = {json.loads(b)["unique_id"].rsplit("cam1_", 1)[1]: json.loads(b)
             for _, b in DISCOVERY.configs("cam1")}
    assert render(by_id["label"]["value_template"], view) == "4"
    assert float(render(by_id["confidence"]["value_template"], view)) == pytest.approx(87.3)
    assert render(by_id["tier"]["value_template"], view) in by_id["tier"]["options"]
    assert render(by_id["degraded"]["value_template"], view) == by_id["degraded"]["payload_on"]
    assert render(by_id["stale"]["value_template"], view) == by_id["stale"]["payload_off"]
    # the device's own model, from its retained state, not the model that answered
    own = json.loads(json.dumps(device_state_view(DeviceState("cam1", True, 1, model_id=
                                                              "mnist-mcu", model_version=3))))
    assert by_id["model_version"]["state_topic"] == JT.device_state("cam1")
    assert render(by_id["model_version"]["value_template"], own) == "mnist-mcu v3"
    assert by_id["label"]["json_attributes_topic"] == JT.device_last("cam1")  # model_id in
    # without a registry the label sensor still shows the number
    bare = json.loads(json.dumps(result_view(result)))
    assert render(by_id["label"]["value_template"], bare) == "4"
    # availability follows the device's retained state, last will included
    avail = by_id["label"]["availability"][0]
    for online, want in ((True, "payload_available"), (False, "payload_not_available")):
        state = device_state_view(DeviceState("cam1", online, 1))
        assert render(avail["value_template"], json.loads(json.dumps(state))) == avail[want]


def test_removal_is_an_empty_retained_config_per_entity() -> None:
    removals = DISCOVERY.removals("cam1")
    assert [t for t, _ in removals] == [t for t, _ in DISCOVERY.configs("cam1")]
    assert all(body == b"" for _, body in removals)


def render_raw(template: str, payload: bytes, encoding: str = "utf-8") -> str:
    """As HA does: the payload decoded as the config says, ``value_json`` only when it
    parses as JSON."""
    try:
        view = json.loads(payload)
    except ValueError:
        return ENV.from_string(template).render(value=payload.decode(encoding)).strip()
    return render(template, view)


def test_the_gateway_reads_online_from_its_birth_and_offline_from_its_last_will() -> None:
    """The gateway's entities read its msgpack state, byte for byte (HA decodes them
    latin-1): its birth says online, its last will (the broker publishes it when the
    gateway dies) and anything else offline, whatever the timestamp, version and model
    after the flag; a gateway whose id merely starts alike is not this one."""
    by_id = {json.loads(b)["unique_id"].rsplit("gw1_", 1)[1]: json.loads(b)
             for _, b in DISCOVERY.gateway_configs("gw1")}
    births = [ServiceState("gw1", True, 1_700_000_000_000, version="0.1.0", model_id="m"),
              ServiceState("gw1", True, 0), ServiceState("gw1", True, 2**64 - 1, "9" * 32)]
    others = [ServiceState("gw1", False, 1_700_000_000_000, version="0.1.0", model_id="m"),
              ServiceState("gw1", False, 0), ServiceState("gw10", True, 1),
              ServiceState("gw", True, 1)]
    for cfg in by_id.values():
        assert cfg["encoding"] == "latin-1"
        if "availability" not in cfg:
            template, yes, no = cfg["value_template"], "ON", "OFF"
        else:
            avail = cfg["availability"][0]
            assert avail["topic"] == Topics().gateway_state("gw1")
            template, yes, no = avail["value_template"], "online", "offline"
        for s in births:
            assert render_raw(template, encode(s), "latin-1") == yes, (cfg["name"], s)
        for s in others:
            assert render_raw(template, encode(s), "latin-1") == no, (cfg["name"], s)
    assert by_id["online"]["state_topic"] == Topics().gateway_state("gw1")


def test_clearing_a_device_renders_offline_and_unknown_without_a_template_error() -> None:
    """Retiring clears the retained state topics: subscribers get empty payloads. The
    availability template says offline and every value template unknown (``None``);
    StrictUndefined makes any touch of the undefined ``value_json`` an error here, the
    'value_json is undefined' HA logged."""
    cleared = dict(retire_topics(JT, DISCOVERY, "cam1"))
    assert cleared[JT.device_state("cam1")] == b"" and cleared[JT.device_last("cam1")] == b""
    configs = [json.loads(b) for _, b in DISCOVERY.configs("cam1")
               + DISCOVERY.gateway_configs("gw1")]
    for cfg in configs:
        if cfg["unique_id"] == "edgecascade_gw_gw1_online":  # no availability: off
            assert render_raw(cfg["value_template"], b"") == "OFF"
            continue
        avail = cfg["availability"][0]
        assert render_raw(avail["value_template"], b"") == avail["payload_not_available"]
        assert render_raw(cfg["value_template"], b"") == "None", cfg["name"]
    assert all(t in cleared for t, _ in DISCOVERY.removals("cam1"))


def test_gateway_templates_read_the_nested_metrics() -> None:
    from edgecascade.gateway.metrics_json import nested_metrics
    from edgecascade.protocol import Metrics
    from edgecascade.protocol.jsonview import metrics_view

    values = {'ec_gateway_results_total{reason="confident",tier="device"}': 6.0,
              'ec_gateway_results_total{reason="cloud_answer",tier="cloud"}': 2.0,
              "ec_gateway_circuit_state": 2.0, "ec_gateway_spool_depth": 5.0,
              "ec_gateway_cloud_cost_total": 4.0}
    view = metrics_view(Metrics("gw1", 1, values)) | {"nested": nested_metrics(values)}
    view = json.loads(json.dumps(view))
    by_id = {e.object_id: json.loads(b) for e, (_, b) in
             zip(GATEWAY_ENTITIES, DISCOVERY.gateway_configs("gw1"), strict=True)}
    got = {k: render(c["value_template"], view) for k, c in by_id.items()
           if k not in ("online", "live_accuracy", "drift")}  # those: test_discovery_accuracy
    assert got == {"circuit": "open", "spool_depth": "5", "cloud_cost": "4.0",
                   "device_share": "75.0", "cloud_share": "25.0",
                   **{k: "0.0" for k in got if k.endswith("_share")
                      and k not in ("device_share", "cloud_share")}}
    assert got["circuit"] in by_id["circuit"]["options"]
    online = encode(ServiceState("gw1", True, 1))
    assert render_raw(by_id["online"]["value_template"], online, "latin-1") == "ON"
