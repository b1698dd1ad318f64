"""Home Assistant MQTT discovery for edgecascade devices and gateways. Pure: builds
topics and payloads.

Per device, six entities grouped under one HA device (the ``device`` block):

- ``sensor`` *label*: the last answer's class name (``label_name``), with the whole
  result as attributes (the answering tier's model among them);
- ``sensor`` *confidence* (%), ``sensor`` *tier*;
- ``binary_sensor`` *degraded* and *stale* (device class ``problem``);
- ``sensor`` *device model* (diagnostic): the model the device itself runs, from its
  retained state (not the model that answered the last frame).

Per gateway, one HA device with its own entities (:data:`GATEWAY_ENTITIES`): online,
cloud circuit, spool depth, cloud cost, the share of answers per tier, the live
accuracy estimate (its interval and audit agreement as attributes) and drift.

They read the JSON view (``protocol/jsonview.py``): HA cannot decode msgpack. Every
state they read is **retained**, so HA shows the truth right after its own restart:
a device's entities read ``{json}/dev/{device}/last`` (its latest result, retained,
at most one per ``ha_min_interval_s``) and ``{json}/dev/{device}/state``; the
gateway's read ``{prefix}/gw/{gateway}/state`` and ``{json}/gw/{gateway}/metrics``. A
device's availability is its retained JSON state (``online`` true or false, the device's
last will included). The gateway's is its **msgpack** state: the only message the broker
publishes when the gateway dies (its MQTT last will; one will per connection, and the
JSON view is written by the gateway itself, so a crash leaves it saying online). HA
reads it byte for byte (``encoding: latin-1``) and compares its first bytes, up to the
``online`` flag, with the gateway's own encoding of them (:func:`state_head`), so
*Online* turns off and the other entities unavailable the moment the broker publishes
the will. Every template renders ``None`` (HA: unknown) or
``offline`` on an empty payload, which is what a subscriber gets when a retained state
is cleared. Config topics are ``{discovery}/{component}/{node}/{object}/config``,
retained; an empty retained config removes an entity (a retired device).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edgecascade.gateway.breaker import STATE_VALUE
from edgecascade.protocol import ServiceState, Tier, Topics, encode
from edgecascade.protocol.jsonview import JsonTopics

DEFAULT_DISCOVERY_PREFIX = "homeassistant"
#: Payload HA publishes on ``{discovery}/status`` when it (re)starts.
BIRTH_ONLINE = b"online"

#: The JSON view topic an entity reads (a :class:`JsonTopics` method's name), or
#: GATEWAY_WILL: the gateway's msgpack state (birth and last will, :class:`Topics`).
LAST, DEVICE_STATE, GATEWAY_STATE, GATEWAY_METRICS = (
    "device_last", "device_state", "gateway_state", "gateway_metrics")
GATEWAY_WILL = "gateway_will"
#: How HA decodes the gateway's entities' payloads: one character per byte, so a
#: template can read the msgpack state (the JSON they also read is ASCII).
RAW_ENCODING = "latin-1"


def state_head(gateway_id: str, online: bool) -> bytes:
    """The bytes of the gateway's msgpack :class:`ServiceState` after the map header, up
    to and including its ``online`` flag: the same in its birth and in its last will,
    whatever follows (timestamp, version, model). The map header is left out (its size
    counts the optional fields)."""
    on = encode(ServiceState(gateway_id, True, 0))
    off = encode(ServiceState(gateway_id, False, 0))
    flag = next(i for i, (a, b) in enumerate(zip(on, off, strict=True)) if a != b)
    return (on if online else off)[1:flag + 1]


def head_test(gateway_id: str) -> str:
    """A Jinja2 test, true when the payload (decoded :data:`RAW_ENCODING`) is the
    gateway's msgpack state saying online; an empty or any other payload is false."""
    head = state_head(gateway_id, True)
    literal = "".join(f"\\x{b:02x}" for b in head)
    return f"value[1:{len(head) + 1}] == '{literal}'"


def guarded(expr: str) -> str:
    """``{{ expr }}`` when the payload is JSON, else ``None`` (HA: unknown). HA binds
    ``value_json`` only to a payload that parses; an empty retained payload (a cleared
    state) leaves it undefined, and touching it logs a template error."""
    return f"{{% if value_json is defined %}}{{{{ {expr} }}}}{{% else %}}None{{% endif %}}"


#: ``online`` unless the payload is a JSON state that says otherwise; an empty payload
#: (a cleared state) reads as offline, without touching an undefined ``value_json``.
AVAILABILITY_TEMPLATE = ("{{ 'online' if value_json is defined and value_json.online "
                         "else 'offline' }}")


@dataclass(frozen=True)
class Entity:
    """One entity: its HA component, object id, the JSON topic it reads and its keys."""

    component: str  # "sensor" or "binary_sensor"
    object_id: str
    name: str
    keys: tuple[tuple[str, Any], ...]
    reads: str = LAST


def _flag(field: str) -> tuple[tuple[str, Any], ...]:
    return (("value_template", guarded(f"'ON' if value_json.{field} else 'OFF'")),
            ("payload_on", "ON"), ("payload_off", "OFF"), ("device_class", "problem"))


#: What a user wants to see per device (issue 11, issue 23).
ENTITIES: tuple[Entity, ...] = (
    Entity("sensor", "label", "Label", (
        ("value_template", guarded("value_json.label_name | default(value_json.label)")),
        ("icon", "mdi:tag"),
    )),
    Entity("sensor", "confidence", "Confidence", (
        ("value_template", guarded("(value_json.confidence * 100) | round(1)")),
        ("unit_of_measurement", "%"),
        ("state_class", "measurement"),
        ("suggested_display_precision", 1),
    )),
    Entity("sensor", "tier", "Answering tier", (
        ("value_template", guarded("value_json.tier")),
        ("device_class", "enum"),
        ("options", [t.value for t in Tier]),
    )),
    Entity("binary_sensor", "degraded", "Degraded", _flag("degraded")),
    Entity("binary_sensor", "stale", "Stale", _flag("stale")),
    # The object id stays "model_version" so an upgraded HA keeps the entity's history.
    Entity("sensor", "model_version", "Device model", (
        ("value_template", guarded("value_json.model_id ~ ' v' ~ value_json.model_version "
                                   "if value_json.model_id is defined else None")),
        ("entity_category", "diagnostic"),
        ("icon", "mdi:chip"),
    ), DEVICE_STATE),
)

_CIRCUIT = {v: s.value for s, v in STATE_VALUE.items()}


def _share(tier: str) -> str:
    """Percent of answers given by ``tier`` since the gateway started, from the nested
    metrics (``results_total`` keyed ``tier/reason``); plain Jinja2, as HA renders it."""
    return ("{% if value_json is defined %}{% set ns = namespace(all=0, mine=0) %}"
            "{% for k, v in (value_json.nested.results_total | default({})).items() %}"
            "{% if k != 'all' %}{% set ns.all = ns.all + v %}"
            f"{{% if k.split('/')[0] == '{tier}' %}}{{% set ns.mine = ns.mine + v %}}"
            "{% endif %}{% endif %}{% endfor %}"
            "{{ (100 * ns.mine / ns.all) | round(1) if ns.all else 0 }}"
            "{% else %}None{% endif %}")


#: The gateway as an HA device (issue 23).
GATEWAY_ENTITIES: tuple[Entity, ...] = (
    # always available: off after the gateway's last will (value template: per gateway)
    Entity("binary_sensor", "online", "Online", (
        ("payload_on", "ON"), ("payload_off", "OFF"), ("device_class", "connectivity"),
    ), GATEWAY_WILL),
    Entity("sensor", "circuit", "Cloud circuit", (
        ("value_template", guarded(f"{_CIRCUIT!r}[value_json.nested.circuit_state | int]")),
        ("device_class", "enum"),
        ("options", sorted(_CIRCUIT.values())),
        ("icon", "mdi:electric-switch"),
    ), GATEWAY_METRICS),
    Entity("sensor", "spool_depth", "Spooled frames", (
        ("value_template", guarded("value_json.nested.spool_depth | int")),
        ("unit_of_measurement", "frames"),
        ("state_class", "measurement"),
        ("icon", "mdi:tray-full"),
    ), GATEWAY_METRICS),
    Entity("sensor", "cloud_cost", "Cloud cost", (
        ("value_template", guarded("value_json.nested.cloud_cost_total | default(0)")),
        ("unit_of_measurement", "messages"),
        ("state_class", "total_increasing"),
        ("icon", "mdi:cash"),
    ), GATEWAY_METRICS),
    *(Entity("sensor", f"{t.value}_share", f"{t.value.capitalize()} answer share", (
        ("value_template", _share(t.value)),
        ("unit_of_measurement", "%"),
        ("state_class", "measurement"),
        ("suggested_display_precision", 1),
    ), GATEWAY_METRICS) for t in Tier),
    # issue 22: the label-free live accuracy (unknown until there are answers) and drift
    Entity("sensor", "live_accuracy", "Live accuracy (estimate)", (
        ("value_template", guarded(
            "(value_json.nested.live_accuracy * 100) | round(2) "
            "if (value_json.nested.live_accuracy_answers | default(0)) > 0 else None")),
        ("unit_of_measurement", "%"),
        ("state_class", "measurement"),
        ("suggested_display_precision", 2),
        ("json_attributes_template", guarded(
            "{'low': value_json.nested.live_accuracy_low | default(None), "
            "'high': value_json.nested.live_accuracy_high | default(None), "
            "'answers': value_json.nested.live_accuracy_answers | default(0), "
            "'audit_agreement': value_json.nested.audit_agreement | default(None), "
            "'audits': value_json.nested.audits_in_window | default(0)} | tojson")),
        ("icon", "mdi:bullseye-arrow"),
    ), GATEWAY_METRICS),
    Entity("binary_sensor", "drift", "Drift", (
        ("value_template", guarded(
            "'ON' if (value_json.nested.drift_firing | default(0)) > 0 else 'OFF'")),
        ("payload_on", "ON"), ("payload_off", "OFF"), ("device_class", "problem"),
    ), GATEWAY_METRICS),
)


@dataclass(frozen=True)
class Discovery:
    """Discovery topics and payloads for one gateway and its devices. No
    ``via_device``: with several gateways on a shared subscription a device's gateway
    can change."""

    json_topics: JsonTopics
    version: str  # edgecascade's, in the ``origin`` block
    prefix: str = DEFAULT_DISCOVERY_PREFIX
    #: The gateway's metrics entities go unavailable when no metrics message came for
    #: this long (a gateway that is connected but stuck).
    metrics_expire_after_s: int = 60
    topics: Topics = Topics()  # the site's: the gateway's msgpack state (its last will)

    @property
    def status_topic(self) -> str:
        return f"{self.prefix}/status"

    def node_id(self, device_id: str) -> str:
        # HA node ids are [a-zA-Z0-9_-]; device ids already are.
        return f"edgecascade_{device_id}"

    def gateway_node_id(self, gateway_id: str) -> str:
        return f"edgecascade_gw_{gateway_id}"

    def config_topic(self, entity: Entity, device_id: str) -> str:
        node = self.node_id(device_id)
        return f"{self.prefix}/{entity.component}/{node}/{entity.object_id}/config"

    def gateway_config_topic(self, entity: Entity, gateway_id: str) -> str:
        node = self.gateway_node_id(gateway_id)
        return f"{self.prefix}/{entity.component}/{node}/{entity.object_id}/config"

    def device_block(self, device_id: str, model: str | None = None) -> dict[str, Any]:
        return {
            "identifiers": [self.node_id(device_id)],
            "name": f"edgecascade {device_id}",
            "manufacturer": "edgecascade",
            "model": model or "edgecascade device",
        }

    def _entity(self, entity: Entity, node: str, topic: str, availability: str,
                device: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": entity.name,
            "unique_id": f"{node}_{entity.object_id}",
            "state_topic": topic,
            "availability": [{
                "topic": availability,
                "value_template": AVAILABILITY_TEMPLATE,
                "payload_available": "online",
                "payload_not_available": "offline",
            }],
            "availability_mode": "latest",
            "device": device,
            "origin": {"name": "edgecascade", "sw_version": self.version},
            "qos": 1,
        }
        out.update(dict(entity.keys))
        return out

    def payload(self, entity: Entity, device_id: str, model: str | None = None) -> dict[str, Any]:
        topics = self.json_topics
        topic = getattr(topics, entity.reads)(device_id)
        out = self._entity(entity, self.node_id(device_id), topic,
                           topics.device_state(device_id), self.device_block(device_id, model))
        if entity.object_id == "label":
            out["json_attributes_topic"] = topic
        return out

    def gateway_payload(self, entity: Entity, gateway_id: str) -> dict[str, Any]:
        node = self.gateway_node_id(gateway_id)
        device = {"identifiers": [node], "name": f"edgecascade gateway {gateway_id}",
                  "manufacturer": "edgecascade", "model": "edgecascade gateway",
                  "sw_version": self.version}
        will = self.topics.gateway_state(gateway_id)
        topic = (will if entity.reads == GATEWAY_WILL
                 else getattr(self.json_topics, entity.reads)(gateway_id))
        out = self._entity(entity, node, topic, will, device)
        out["availability"][0]["value_template"] = (
            f"{{{{ 'online' if {head_test(gateway_id)} else 'offline' }}}}")
        out["encoding"] = RAW_ENCODING
        if entity.reads == GATEWAY_WILL:
            out["value_template"] = f"{{{{ 'ON' if {head_test(gateway_id)} else 'OFF' }}}}"
            del out["availability"], out["availability_mode"]
        if entity.reads == GATEWAY_METRICS:
            out["expire_after"] = self.metrics_expire_after_s
        return out

    def configs(self, device_id: str, model: str | None = None) -> list[tuple[str, bytes]]:
        """``(topic, payload)`` for every entity of a device; publish retained."""
        return [(self.config_topic(e, device_id),
                 json.dumps(self.payload(e, device_id, model), sort_keys=True).encode())
                for e in ENTITIES]

    def gateway_configs(self, gateway_id: str) -> list[tuple[str, bytes]]:
        """``(topic, payload)`` for every entity of the gateway; publish retained."""
        return [(self.gateway_config_topic(e, gateway_id),
                 json.dumps(self.gateway_payload(e, gateway_id), sort_keys=True).encode())
                for e in GATEWAY_ENTITIES]

    def removals(self, device_id: str) -> list[tuple[str, bytes]]:
        """Empty retained configs: HA deletes the entities (and the device with them)."""
        return [(self.config_topic(e, device_id), b"") for e in ENTITIES]

    def gateway_removals(self, gateway_id: str) -> list[tuple[str, bytes]]:
        return [(self.gateway_config_topic(e, gateway_id), b"") for e in GATEWAY_ENTITIES]
