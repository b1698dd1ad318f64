"""The shipped secure site lets the dashboards' views through (issue 23 on a secured
site): the gateway may write the JSON view and Home Assistant discovery, a dashboard (Home
Assistant's login) may read them but not write them, and only the maintainer identity
can clear what a retired device left retained (`site retire-device --creds`)."""

from __future__ import annotations

from edgecascade.cli import main
from edgecascade.gateway.discovery import DEFAULT_DISCOVERY_PREFIX
from edgecascade.protocol import Topics
from edgecascade.protocol.jsonview import JsonTopics, default_json_root
from edgecascade.tools.site.retire import device_topics
from edgecascade.tools.site.store import SiteFolder

from .helpers import Peer

HA = DEFAULT_DISCOVERY_PREFIX


def _views(topics: Topics) -> tuple[JsonTopics, str]:
    jt = JsonTopics(default_json_root(topics.prefix))
    return jt, f"{HA}/sensor/edgecascade_devA/label/config"


def test_gateway_writes_views_dashboard_reads_them(peers, topics: Topics) -> None:
    jt, ha_config = _views(topics)
    gw, dash = peers["gw1"], peers["dash"]
    written = [(jt.result("devA"), b'{"label": 1}'), (jt.device_state("devA"), b"{}"),
               (jt.device_last("devA"), b"{}"), (jt.gateway_state("gw1"), b"{}"),
               (jt.gateway_metrics("gw1"), b"{}"), (ha_config, b'{"name": "Label"}')]
    for topic, payload in written:
        gw.publish(topic, payload, retain=True)
    codes = dash.subscribe(jt.all(), f"{HA}/#")
    assert 0x80 not in codes
    for topic, payload in written:
        dash.wait_for(topic, payload)
    # Home Assistant's birth message reaches the gateway (it sends discovery again)
    gw.subscribe(f"{HA}/status")
    dash.publish(f"{HA}/status", b"online")
    gw.wait_for(f"{HA}/status", b"online")


def test_dashboard_cannot_write_views_and_device_cannot_write_discovery(
        peers, topics: Topics) -> None:
    jt, ha_config = _views(topics)
    gw, dash, dev = peers["gw1"], peers["dash"], peers["devA"]
    watcher = dash
    watcher.subscribe(jt.all(), f"{HA}/#")
    dash.publish(jt.result("devA"), b"forged by a dashboard")
    dev.publish(ha_config, b"forged by a device", retain=True)
    gw.publish(jt.result("devB"), b"barrier")
    seen = watcher.wait_for(jt.result("devB"), b"barrier")
    assert [p for _, p, _ in seen if b"forged" in p] == []


def test_only_the_maintainer_clears_a_retired_device(peers, topics: Topics,
                                                     site_folder: SiteFolder, capsys) -> None:
    jt, ha_config = _views(topics)
    gw, dev = peers["gw1"], peers["devA"]
    dev.publish(topics.device_state("devA"), b"device state", retain=True)
    gw.publish(jt.device_state("devA"), b"{}", retain=True)
    gw.publish(ha_config, b'{"name": "Label"}', retain=True)
    todo = device_topics(topics, "devA")
    args = ["site", "retire-device", "devA", "--prefix", topics.prefix]

    # a dashboard login is refused topic by topic, and the command says so
    assert main([*args, "--creds", str(site_folder.creds_path("dash"))]) == 1
    out, err = capsys.readouterr()
    assert f"cleared 0 of {len(todo)}" in out and "not authorized" in err
    late = peers["dash"]
    late.subscribe(topics.device_state("devA"), ha_config)
    late.wait_for(topics.device_state("devA"), b"device state")  # still retained

    assert main([*args, "--creds", str(site_folder.creds_path("maint"))]) == 0
    assert f"cleared {len(todo)} of {len(todo)}" in capsys.readouterr().out
    late.close()  # one login per identity on this site: the fresh one takes over
    gw.publish(jt.device_state("devB"), b"barrier", retain=True)
    fresh = Peer.connect(site_folder.credentials("dash"))
    try:
        fresh.subscribe(topics.device_state("devA"), jt.device_state("devA"), ha_config,
                        jt.device_state("devB"))
        seen = fresh.wait_for(jt.device_state("devB"), b"barrier")
        assert [t for t, _, _ in seen if "devA" in t] == []
    finally:
        fresh.close()
