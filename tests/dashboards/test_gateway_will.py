"""A gateway killed with SIGKILL shows offline in Home Assistant: its HA device reads the
gateway's msgpack state, whose offline form the broker publishes as the gateway's last
will (the JSON view, written by the gateway itself, still says online after a crash).

Real mosquitto, a real gateway process; HA's side is its templates rendered with Jinja2
on what a fresh subscriber (HA after a restart) receives, decoded as each config's
``encoding`` says, as HA decodes it."""

from __future__ import annotations

import json
import os
import signal

import jinja2

from edgecascade.gateway.discovery import GATEWAY_ENTITIES
from edgecascade.protocol import ServiceState, decode
from edgecascade.protocol.jsonview import JsonTopics
from edgecascade.tools.broker import free_port
from tests.gateway.test_crash import start, wait_ready, write_config
from tests.support import Collector

ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)


def ha_render(template: str, payload: bytes, encoding: str) -> str:
    text = payload.decode(encoding)
    try:
        bound = {"value_json": json.loads(text)}
    except ValueError:
        bound = {}
    return ENV.from_string(template).render(value=text, **bound).strip()


def gateway_view(broker, topics, configs: list[dict]) -> dict[str, str]:
    """object id -> what HA shows after a restart: the Online state, else availability."""
    watched = sorted({c["state_topic"] for c in configs}
                     | {a["topic"] for c in configs for a in c.get("availability", [])})
    late = Collector(broker.host, broker.port, watched)
    try:
        late.wait_for(1, 10, where=lambda m: m.topic == topics.gateway_state("gwk"))
        retained = {m.topic: m.payload for m in late.messages if m.retain}
    finally:
        late.close()
    out = {}
    for c in configs:
        oid = c["unique_id"].rsplit("gwk_", 1)[1]
        if "availability" in c:
            a = c["availability"][0]
            out[oid] = ha_render(a["value_template"], retained.get(a["topic"], b""),
                                 c["encoding"])
        else:
            out[oid] = ha_render(c["value_template"], retained[c["state_topic"]],
                                 c["encoding"])
    return out


def test_a_killed_gateway_reads_offline_in_home_assistant(broker, topics, tmp_path, closing):
    config, port = tmp_path / "gw.toml", free_port()
    write_config(config, broker.url, topics.prefix, tmp_path / "state", port)
    with config.open("a") as f:
        f.write('[dashboards]\njson_view = true\nha_discovery = true\nha_prefix = "ha"\n')
    jt = JsonTopics(f"{topics.prefix}/json")
    seen = Collector(broker.host, broker.port, ["ha/#", topics.gateway_state("gwk"),
                                                jt.gateway_state("gwk")])
    closing.append(seen)
    proc = start(config, tmp_path / "gw.log")
    try:
        wait_ready(port, proc)
        got = seen.wait_for(len(GATEWAY_ENTITIES), 20, where=lambda m: m.payload and
                            "/edgecascade_gw_gwk/" in m.topic)
        configs = [json.loads(m.payload) for m in got]
        alive = gateway_view(broker, topics, configs)
        assert alive == {**{k: "online" for k in alive}, "online": "ON"}, alive

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        seen.wait_for(1, 10, where=lambda m: m.topic == topics.gateway_state("gwk")
                      and not decode(ServiceState, m.payload).online)
        dead = gateway_view(broker, topics, configs)
        assert dead == {**{k: "offline" for k in dead}, "online": "OFF"}, dead
        # what HA read before: the JSON state, which nobody corrects after a crash
        last_json = [m for m in seen.messages if m.topic == jt.gateway_state("gwk")][-1]
        assert json.loads(last_json.payload)["online"] is True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
