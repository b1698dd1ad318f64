"""Home Assistant MQTT discovery for edgecascade devices. Pure: builds topics and payloads.

Per device, six entities grouped under one HA device (the ``device`` block):

- ``sensor`` *label*: the last answer's class name (``label_name``), with the whole
  result as attributes;
- ``sensor`` *confidence* (%), ``sensor`` *tier*, ``sensor`` *model version*;
- ``binary_sensor`` *degraded* and *stale* (device class ``problem``).

They read the JSON view (``protocol/jsonview.py``): HA cannot decode msgpack. Their
availability is the device's retained state, republished as JSON by the gateway
(``{json}/dev/{device}/state``: ``online`` true or false, the device's last will
included). Config topics are ``{discovery}/{component}/{node}/{object}/config``,
retained; an empty retained config removes an entity (a retired device).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edgecascade.protocol import Tier
from edgecascade.protocol.jsonview import JsonTopics

DEFAULT_DISCOVERY_PREFIX = "homeassistant"
#: Payload HA publishes on ``{discovery}/status`` when it (re)starts.
BIRTH_ONLINE = b"online"


@dataclass(frozen=True)
class Entity:
    """One entity of a device: its HA component, object id and its own keys."""

    component: str  # "sensor" or "binary_sensor"
    object_id: str
    name: str
    keys: tuple[tuple[str, Any], ...]


#: What a user wants to see per device (issue 11). Templates read the JSON result.
ENTITIES: tuple[Entity, ...] = (
    Entity("sensor", "label", "Label", (
        ("value_template", "{{ value_json.label_name | default(value_json.label) }}"),
        ("icon", "mdi:tag"),
    )),
    Entity("sensor", "confidence", "Confidence", (
        ("value_template", "{{ (value_json.confidence * 100) | round(1) }}"),
        ("unit_of_measurement", "%"),
        ("state_class", "measurement"),
        ("suggested_display_precision", 1),
    )),
    Entity("sensor", "tier", "Answering tier", (
        ("value_template", "{{ value_json.tier }}"),
        ("device_class", "enum"),
        ("options", [t.value for t in Tier]),
    )),
    Entity("binary_sensor", "degraded", "Degraded", (
        ("value_template", "{{ 'ON' if value_json.degraded else 'OFF' }}"),
        ("payload_on", "ON"),
        ("payload_off", "OFF"),
        ("device_class", "problem"),
    )),
    Entity("binary_sensor", "stale", "Stale", (
        ("value_template", "{{ 'ON' if value_json.stale else 'OFF' }}"),
        ("payload_on", "ON"),
        ("payload_off", "OFF"),
        ("device_class", "problem"),
    )),
    Entity("sensor", "model_version", "Model version", (
        ("value_template", "{{ value_json.model_id }} v{{ value_json.model_version }}"),
        ("entity_category", "diagnostic"),
    )),
)


@dataclass(frozen=True)
class Discovery:
    """Discovery topics and payloads for one gateway's devices. No ``via_device``: with
    several gateways on a shared subscription a device's gateway can change."""

    json_topics: JsonTopics
    version: str  # edgecascade's, in the ``origin`` block
    prefix: str = DEFAULT_DISCOVERY_PREFIX

    @property
    def status_topic(self) -> str:
        return f"{self.prefix}/status"

    def node_id(self, device_id: str) -> str:
        # HA node ids are [a-zA-Z0-9_-]; device ids already are.
        return f"edgecascade_{device_id}"

    def config_topic(self, entity: Entity, device_id: str) -> str:
        node = self.node_id(device_id)
        return f"{self.prefix}/{entity.component}/{node}/{entity.object_id}/config"

    def device_block(self, device_id: str, model: str | None = None) -> dict[str, Any]:
        block: dict[str, Any] = {
            "identifiers": [self.node_id(device_id)],
            "name": f"edgecascade {device_id}",
            "manufacturer": "edgecascade",
            "model": model or "edgecascade device",
        }
        return block

    def payload(self, entity: Entity, device_id: str, model: str | None = None) -> dict[str, Any]:
        node = self.node_id(device_id)
        out: dict[str, Any] = {
            "name": entity.name,
            "unique_id": f"{node}_{entity.object_id}",
            "state_topic": self.json_topics.result(device_id),
            "availability": [{
                "topic": self.json_topics.device_state(device_id),
                "value_template": "{{ 'online' if value_json.online else 'offline' }}",
                "payload_available": "online",
                "payload_not_available": "offline",
            }],
            "availability_mode": "latest",
            "device": self.device_block(device_id, model),
            "origin": {"name": "edgecascade", "sw_version": self.version},
            "qos": 1,
        }
        if entity.object_id == "label":
            out["json_attributes_topic"] = self.json_topics.result(device_id)
        out.update(dict(entity.keys))
        return out

    def configs(self, device_id: str, model: str | None = None) -> list[tuple[str, bytes]]:
        """``(topic, payload)`` for every entity of a device; publish retained."""
        return [(self.config_topic(e, device_id),
                 json.dumps(self.payload(e, device_id, model), sort_keys=True).encode())
                for e in ENTITIES]

    def removals(self, device_id: str) -> list[tuple[str, bytes]]:
        """Empty retained configs: HA deletes the entities (and the device with them)."""
        return [(self.config_topic(e, device_id), b"") for e in ENTITIES]
