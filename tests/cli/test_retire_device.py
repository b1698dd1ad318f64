"""`edgecascade site retire-device` / `retire-gateway` clear everything a device or a
gateway left retained on a real mosquitto, with no gateway running (issue 23): Home
Assistant then removes the entities instead of keeping a forever-unavailable device."""

from __future__ import annotations

from edgecascade.cli import main
from edgecascade.gateway.discovery import ENTITIES, GATEWAY_ENTITIES
from edgecascade.protocol import Topics
from edgecascade.tools.site.retire import device_topics, gateway_topics
from tests.support import Collector, publish


def retained_after(broker, filters: list[str], sentinel: str) -> list[str]:
    """Topics still retained under ``filters`` (the sentinel, retained last, marks the end
    of what the broker sends a new subscriber)."""
    publish(broker.host, broker.port, [(sentinel, b"x")], retain=True)
    seen = Collector(broker.host, broker.port, [*filters, sentinel])
    try:
        seen.wait_for(1, 10, where=lambda m: m.topic == sentinel)
        return sorted(m.topic for m in seen.messages if m.topic != sentinel)
    finally:
        seen.close()


def test_retire_device_and_gateway_without_a_gateway(broker, topics: Topics, capsys) -> None:
    ha = "ha"
    left = {t: b"{}" for d in ("cam1", "cam2") for t in device_topics(topics, d, ha_prefix=ha)}
    left |= {t: b"{}" for t in gateway_topics(topics, "gw1", ha_prefix=ha)}
    publish(broker.host, broker.port, list(left.items()), retain=True)
    filters = [f"{topics.prefix}/#", f"{ha}/#"]
    assert len(retained_after(broker, filters, "s/1")) == len(left)
    assert len(device_topics(topics, "cam1")) == 2 + 2 + len(ENTITIES)

    assert main(["site", "retire-device", "cam1", "--broker", broker.url, "--prefix",
                 topics.prefix, "--ha-prefix", ha]) == 0
    assert "cleared 10 of 10 retained topics" in capsys.readouterr().out
    still = retained_after(broker, filters, "s/2")
    assert not [t for t in still if "cam1" in t]
    assert len([t for t in still if "cam2" in t]) == 2 + 2 + len(ENTITIES)  # untouched

    assert main(["site", "retire-gateway", "gw1", "--broker", broker.url, "--prefix",
                 topics.prefix, "--ha-prefix", ha]) == 0
    still = retained_after(broker, filters, "s/3")
    assert not [t for t in still if "gw1" in t]
    assert len(gateway_topics(topics, "gw1")) == 4 + len(GATEWAY_ENTITIES)


def test_retire_device_bad_input_is_one_line(broker, capsys) -> None:
    assert main(["site", "retire-device", "bad id", "--broker", broker.url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad id" in err[0]
