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

from edgecascade.gateway.discovery import ENTITIES, Discovery
from edgecascade.protocol import DeviceState, Result
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
    return [(t, json.loads(b)) for t, b in DISCOVERY.configs("cam1", "mnist-mcu v1")]


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
    for i, a in enumerate(payload["availability"]):
        check_map(f"availability[{i}]", a, AVAILABILITY)
        assert "topic" in a  # required in each entry
        assert a["topic"] == JT.device_state("cam1")
    if payload.get("device_class") == "enum":  # HA: enum needs options, no unit/state_class
        assert payload["options"] and "unit_of_measurement" not in payload
        assert "state_class" not in payload
    if component == "binary_sensor":
        assert payload["device_class"] in BINARY_CLASSES


def test_one_device_six_entities_unique_ids() -> None:
    got = payloads()
    assert len(got) == len(ENTITIES) == 6
    assert len({p["unique_id"] for _, p in got}) == 6
    assert len({json.dumps(p["device"], sort_keys=True) for _, p in got}) == 1
    names = {p["name"] for _, p in got}
    assert names == {"Label", "Confidence", "Answering tier", "Degraded", "Stale",
                     "Model version"}


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
    assert render(by_id["model_version"]["value_template"], view) == "mnist-cloud v2"
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
