"""``edgecascade site retire-device`` / ``retire-gateway``: clear what a device or a
gateway left retained on the site broker, with or without a gateway running.

    edgecascade site retire-device cam1 cam2 --broker mqtt://broker.lan:1883
    edgecascade site retire-gateway gw1 --broker mqtt://broker.lan:1883

A device leaves its retained state (``{prefix}/dev/{id}/state``) and the gateway's
config for it; with the dashboards on, the gateway also retained its JSON state, its
latest result and six Home Assistant discovery configs. Each is cleared with an empty
retained payload (MQTT's way to delete a retained message): HA removes the entities
and the device, a running gateway forgets the device. A gateway leaves its state and
metrics (msgpack and JSON) and its own HA device. The demo uses the same lists to
clean an external broker after a run (``--keep`` keeps them).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from edgecascade.gateway.dashboards import retire_topics
from edgecascade.gateway.discovery import DEFAULT_DISCOVERY_PREFIX, Discovery
from edgecascade.mqtt import (
    BrokerSettings,
    SettingsError,
    connect_properties,
    creds_settings,
    make_client,
)
from edgecascade.protocol import ProtocolError, Topics
from edgecascade.protocol.jsonview import JsonTopics, default_json_root
from edgecascade.protocol.topics import DEFAULT_PREFIX

CONNECT_TIMEOUT_S = 10.0
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


def _views(topics: Topics, json_root: str, ha_prefix: str) -> tuple[JsonTopics, Discovery]:
    jt = JsonTopics(json_root or default_json_root(topics.prefix))
    return jt, Discovery(jt, "", ha_prefix, topics=topics)


def device_topics(topics: Topics, device_id: str, json_root: str = "",
                  ha_prefix: str = DEFAULT_DISCOVERY_PREFIX) -> list[str]:
    """Every topic a device may hold retained on the site broker."""
    jt, discovery = _views(topics, json_root, ha_prefix)
    return [topics.device_state(device_id), topics.device_config(device_id),
            *(t for t, _ in retire_topics(jt, discovery, device_id))]


def gateway_topics(topics: Topics, gateway_id: str, json_root: str = "",
                   ha_prefix: str = DEFAULT_DISCOVERY_PREFIX) -> list[str]:
    """Every topic a gateway may hold retained on the site broker."""
    jt, discovery = _views(topics, json_root, ha_prefix)
    return [topics.gateway_state(gateway_id), topics.gateway_metrics(gateway_id),
            jt.gateway_state(gateway_id), jt.gateway_metrics(gateway_id),
            *(t for t, _ in discovery.gateway_removals(gateway_id))]


def clear_retained(broker: BrokerSettings, topics: Sequence[str],
                   client_id: str = "edgecascade-retire") -> int:
    """Publish an empty retained payload (QoS 1) on each topic and wait for the broker's
    acknowledgements; returns how many the broker accepted. MQTT 5, so a publish the
    broker's ACL refuses comes back as "not authorized" and is not counted (under 3.1.1
    mosquitto acknowledges it and drops it silently). Raises ``OSError`` when the broker
    cannot be reached or refuses the login."""
    client = make_client(replace(broker, mqtt5=True), client_id)
    connected = threading.Event()
    refused_login: list[str] = []
    refused: set[int] = set()

    def on_connect(c: Any, u: Any, f: Any, rc: Any, p: Any = None) -> None:
        if rc.is_failure:
            refused_login.append(str(rc))
        connected.set()

    def on_publish(c: Any, u: Any, mid: int, rc: Any, p: Any = None) -> None:
        if rc.is_failure:
            refused.add(mid)

    client.on_connect = on_connect
    client.on_publish = on_publish
    try:
        client.connect(broker.host, broker.port, broker.keepalive,
                       **connect_properties(replace(broker, mqtt5=True), True))  # type: ignore[arg-type]
    except OSError as exc:
        raise OSError(f"{broker.url}: {exc.strerror or exc}") from None
    client.loop_start()
    try:
        if not connected.wait(CONNECT_TIMEOUT_S):
            raise OSError(f"{broker.url}: no CONNACK within {CONNECT_TIMEOUT_S:g} s")
        if refused_login:
            raise OSError(f"{broker.url}: login refused ({refused_login[0]})")
        infos = [client.publish(t, b"", qos=1, retain=True) for t in topics]
        for info in infos:
            info.wait_for_publish(CONNECT_TIMEOUT_S)
        return sum(1 for info in infos if info.is_published() and info.mid not in refused)
    finally:
        client.disconnect()
        client.loop_stop()


def add_parsers(s: Any) -> None:
    for name, what in (("retire-device", "device"), ("retire-gateway", "gateway")):
        help_ = (f"clear what a {what} left retained on the site broker (state, JSON view, "
                 "Home Assistant entities); no gateway needed")
        q = s.add_parser(name, help=help_, description=help_ + ".")
        q.add_argument("ids", nargs="+", metavar="ID", help=f"the {what} id(s)")
        q.add_argument("--broker", default=None,
                       help="site broker URL (default: the --creds file's, else "
                            f"{DEFAULT_BROKER})")
        q.add_argument("--creds", default=None, metavar="FILE",
                       help="a site credentials file (on a secure site the maintainer's: "
                            "<site>/creds/maintainer.json, made by `site init`)")
        q.add_argument("--username", default=None, help="broker username (open sites)")
        q.add_argument("--password", default=None, help="broker password")
        q.add_argument("--ca-file", default=None, help="CA for an mqtts:// broker")
        q.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix")
        q.add_argument("--json-root", default="",
                       help="the gateways' dashboards.json_root (default <prefix>/json)")
        q.add_argument("--ha-prefix", default=DEFAULT_DISCOVERY_PREFIX,
                       help="Home Assistant's discovery prefix")
        q.set_defaults(func=cmd_retire, what=what)


def cmd_retire(args: argparse.Namespace) -> int:
    try:
        if args.creds:
            broker = creds_settings(args.creds, url=args.broker)
        else:
            broker = BrokerSettings(args.broker or DEFAULT_BROKER, username=args.username,
                                    password=args.password, ca_file=args.ca_file)
        topics = Topics(args.prefix)
        build = device_topics if args.what == "device" else gateway_topics
        todo = [t for i in args.ids for t in build(topics, i, args.json_root, args.ha_prefix)]
    except (SettingsError, ProtocolError) as exc:
        print(f"edgecascade site retire-{args.what}: {exc}", file=sys.stderr)
        return 2
    try:
        done = clear_retained(broker, todo)
    except OSError as exc:
        print(f"edgecascade site retire-{args.what}: {exc}", file=sys.stderr)
        return 1
    print(f"cleared {done} of {len(todo)} retained topics for {len(args.ids)} "
          f"{args.what}(s): {', '.join(args.ids)}")
    if done < len(todo):
        print(f"edgecascade site retire-{args.what}: the broker refused {len(todo) - done} "
              "(not authorized: on a secure site use --creds <site>/creds/maintainer.json)",
              file=sys.stderr)
    return 0 if done == len(todo) else 1
