"""Dashboards: the JSON view, Home Assistant discovery and the live page's state.

The gateway calls five hooks (``on_result``, ``on_device_state``, ``on_gateway_state``,
``on_metrics``, ``on_message`` for ``homeassistant/status``); this module decides what
to publish. Config lives in the ``[dashboards]`` table::

    [dashboards]
    json_view = false          # republish results, states and metrics as JSON
    json_root = ""             # topic root of the JSON view; "" = "<prefix>/json"
    ha_discovery = false       # Home Assistant MQTT discovery (needs json_view)
    ha_prefix = "homeassistant"
    ha_min_interval_s = 10.0   # at most one HA state update per device per interval
    web = true                 # the live dashboard page on the HTTP server (/)

Cost of the JSON view: one extra publish per result (QoS 1), per device state change
(retained), per gateway state change and per metrics interval (QoS 0, retained); HA
discovery adds six retained configs per device and eight for the gateway, once per
device and HA restart, and each device's latest result retained on
``{json}/dev/{device}/last``: at most one publish per device per
``ha_min_interval_s`` (the last of a burst goes out at the next metrics interval), and
on the broker one retained message per device (a result's JSON, about 350 bytes: 10,000
devices hold about 3.5 MB of retained state) next to its six configs (about 4.7 KB).
A result's ``label_name`` comes from the registry entry of the model that answered it
(:mod:`edgecascade.gateway.model_labels`).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

from edgecascade.gateway.discovery import BIRTH_ONLINE, DEFAULT_DISCOVERY_PREFIX, Discovery
from edgecascade.gateway.live import LiveState, Truth
from edgecascade.gateway.metrics_json import nested_metrics
from edgecascade.gateway.min_interval import MinInterval
from edgecascade.gateway.model_labels import ModelLabels, load_model_labels, registries_for
from edgecascade.protocol import (
    DeviceState,
    Metrics,
    ProtocolError,
    Result,
    ServiceState,
    Topics,
    decode,
)
from edgecascade.protocol.jsonview import (
    JsonTopics,
    default_json_root,
    device_state_view,
    dumps,
    metrics_view,
    result_view,
    service_state_view,
)

log = logging.getLogger("edgecascade.gateway.dashboards")
_HA_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class DashboardsConfig:
    json_view: bool = False
    json_root: str = ""  # "" : "<prefix>/json"
    ha_discovery: bool = False
    ha_prefix: str = DEFAULT_DISCOVERY_PREFIX
    ha_min_interval_s: float = 10.0  # per device; 0: every result (a recorder stores all)
    web: bool = True


def parse_dashboards(raw: Any, add: Callable[[str, str], None]) -> DashboardsConfig:
    """The ``[dashboards]`` table, validated; every problem goes to ``add(path, why)``
    (the config loader's problem collector), so all are reported together."""
    cfg = DashboardsConfig()
    if raw is None:
        return cfg
    if not isinstance(raw, Mapping):
        add("dashboards", "must be a table")
        return cfg
    types = {f.name: type(getattr(cfg, f.name)) for f in fields(cfg)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        want = types.get(key)
        if want is None:
            add(f"dashboards.{key}", f"unknown key (known: {', '.join(types)})")
        elif want is float and type(value) is int:
            values[key] = float(value)
        elif type(value) is not want:
            add(f"dashboards.{key}", f"must be {want.__name__}, got {value!r:.40}")
        else:
            values[key] = value
    cfg = replace(cfg, **values)
    if cfg.json_root:
        try:
            JsonTopics(cfg.json_root)
        except ProtocolError as exc:
            add("dashboards.json_root", exc.why)
    if not 0 <= cfg.ha_min_interval_s <= 86400:
        add("dashboards.ha_min_interval_s", "must be 0..86400 seconds")
    if not _HA_PREFIX_RE.match(cfg.ha_prefix):
        add("dashboards.ha_prefix", "must match [A-Za-z0-9_-]{1,64}")
    if cfg.ha_discovery and not cfg.json_view:
        add("dashboards.ha_discovery", "needs json_view = true (Home Assistant reads the JSON "
                                       "view)")
    return cfg


class _Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int = ..., retain: bool = ...) -> Any: ...


class Dashboards:
    """The gateway's dashboard side; every hook is cheap when its feature is off."""

    def __init__(self, cfg: DashboardsConfig, topics: Topics, gateway_id: str, version: str,
                 client: Callable[[], _Publisher | None],
                 metrics: Callable[[], dict[str, float]], budget: float | None = None,
                 labels: ModelLabels | None = None, truth: Truth | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 metrics_interval_s: float = 5.0) -> None:
        self.cfg = cfg
        self.gateway_id = gateway_id
        self.json = JsonTopics(cfg.json_root or default_json_root(topics.prefix))
        self.discovery = Discovery(self.json, version, cfg.ha_prefix,
                                   max(60, math.ceil(3 * metrics_interval_s)), topics)
        self._client = client
        self._metrics = metrics
        self.budget = budget
        self.labels = labels if labels is not None else load_model_labels(registries_for())
        self.live = LiveState(self.labels.of, truth)
        self._models: dict[str, str | None] = {}  # devices announced to HA -> model
        self._gateway_announced = False
        self._last: MinInterval[bytes] = MinInterval(cfg.ha_min_interval_s)
        self._clock = clock
        self.published = 0

    @classmethod
    def for_gateway(cls, config: Any, client: Callable[[], _Publisher | None],
                    metrics: Callable[[], dict[str, float]]) -> Dashboards:
        """From a ``GatewayConfig`` (typed loosely: config.py imports this module)."""
        from edgecascade import __version__

        budget = config.cloud.budget_messages
        return cls(config.dashboards, config.topics, config.gateway_id, __version__[:32],
                   client, metrics, budget if budget != float("inf") else None,
                   labels=load_model_labels(registries_for(config.edge.model)),
                   metrics_interval_s=config.metrics_interval_s)

    # -- subscriptions ---------------------------------------------------------------
    def subscriptions(self) -> list[tuple[str, int]]:
        return [(self.discovery.status_topic, 1)] if self.cfg.ha_discovery else []

    def handles(self, topic: str) -> bool:
        return self.cfg.ha_discovery and topic == self.discovery.status_topic

    def on_message(self, topic: str, payload: bytes) -> bool:
        """True when the message was ours (HA's status). On HA's birth (``online``) every
        device is announced again: HA may have lost the retained configs."""
        if not self.handles(topic):
            return False
        if payload.strip() == BIRTH_ONLINE:
            if self._gateway_announced:
                self._announce_gateway()
            for device_id, model in sorted(self._models.items()):
                self._announce(device_id, model)
        return True

    # -- hooks -----------------------------------------------------------------------
    def on_result(self, result: Result) -> None:
        self.live.add_result(result)
        if self.cfg.json_view:
            body = dumps(result_view(result, self.labels.of(result.model_id)))
            self._publish(self.json.result(result.device_id), body, 1, False)
            if self.cfg.ha_discovery:
                now = self._clock()
                if self._last.offer(result.device_id, body, now) is not None:
                    self._publish(self.json.device_last(result.device_id), body, 1, True)

    def on_device_state(self, device_id: str, payload: bytes) -> None:
        """A device's retained state; an empty payload means the device was retired."""
        if not payload:
            self.live.remove_device(device_id)
            if self.cfg.ha_discovery:  # also for a device retired while we were away
                self._models.pop(device_id, None)
                self._last.forget(device_id)
            for topic, body in retire_topics(self.json, self.discovery, device_id,
                                             self.cfg.json_view, self.cfg.ha_discovery):
                self._publish(topic, body, 1, True)
            return
        try:
            state = decode(DeviceState, payload)
        except ProtocolError:
            return  # the gateway counts it as rejected
        self.live.set_device(state)
        # Announced first, so HA knows the entities before their availability changes.
        # A last will carries no model: it keeps the device's announcement as it is.
        model = (f"{state.model_id} v{state.model_version}" if state.model_id else None)
        known = state.device_id in self._models
        if self.cfg.ha_discovery and (not known or (model is not None
                                                    and self._models[state.device_id] != model)):
            self._models[state.device_id] = model
            self._announce(state.device_id, model)
        if self.cfg.json_view:
            self._publish(self.json.device_state(state.device_id),
                          dumps(device_state_view(state)), 1, True)

    def on_gateway_state(self, payload: bytes) -> None:
        if self.cfg.json_view:
            state = decode(ServiceState, payload)
            if self.cfg.ha_discovery and not self._gateway_announced:
                self._gateway_announced = True
                self._announce_gateway()
            self._publish(self.json.gateway_state(self.gateway_id),
                          dumps(service_state_view(state)), 1, True)

    def on_metrics(self, msg: Metrics) -> None:
        self.live.touch()
        if self.cfg.json_view:
            view = metrics_view(msg)
            view["nested"] = nested_metrics(msg.values)
            self._publish(self.json.gateway_metrics(self.gateway_id), dumps(view), 0, True)
        if self.cfg.ha_discovery:  # the last result of a burst, held by the min interval
            for device_id, body in self._last.due(self._clock()):
                self._publish(self.json.device_last(device_id), body, 1, True)

    def snapshot(self) -> dict[str, Any]:
        out = self.live.snapshot(self._metrics(), self.budget)
        out["gateway_id"] = self.gateway_id
        out["json_root"] = self.json.root if self.cfg.json_view else None
        return out

    # -- plumbing --------------------------------------------------------------------
    def _announce_gateway(self) -> None:
        for topic, body in self.discovery.gateway_configs(self.gateway_id):
            self._publish(topic, body, 1, True)

    def _announce(self, device_id: str, model: str | None) -> None:
        for topic, body in self.discovery.configs(device_id, model):
            self._publish(topic, body, 1, True)

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        client = self._client()
        if client is None:
            return
        client.publish(topic, payload, qos=qos, retain=retain)
        self.published += 1


def retire_topics(json_topics: JsonTopics, discovery: Discovery, device_id: str,
                  json_view: bool = True, ha: bool = True) -> list[tuple[str, bytes]]:
    """Every retained topic the dashboards hold for a device, each with an empty
    payload (clears it): the JSON state and latest result, and HA's configs. One list for
    the gateway (a device retired while it runs) and ``edgecascade site retire-device``
    (without a gateway)."""
    out: list[tuple[str, bytes]] = []
    if json_view:
        out.append((json_topics.device_state(device_id), b""))
    if ha:
        out.append((json_topics.device_last(device_id), b""))
        out.extend(discovery.removals(device_id))
    return out
