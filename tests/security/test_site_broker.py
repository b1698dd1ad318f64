"""The shipped secure site config, on a real mosquitto: who may say and read what."""

from __future__ import annotations

import pytest

from edgecascade.protocol import Topics
from edgecascade.tools.site.broker import SiteBrokers, connack_code
from edgecascade.tools.site.store import SiteFolder

from .helpers import Peer, Refused, refused_soon

NOT_AUTHORIZED = 5
SUB_REFUSED = 0x80


def test_anonymous_and_wrong_password_are_refused(site_folder: SiteFolder,
                                                  secure_brokers: SiteBrokers) -> None:
    for broker in (secure_brokers.site, secure_brokers.cloud):
        assert connack_code("localhost", broker.files.port, site_folder.ca_crt) == NOT_AUTHORIZED
    with pytest.raises(Refused):
        Peer.connect(site_folder.credentials("devA"), password="guessed")


def test_plain_tcp_is_not_spoken(site_folder: SiteFolder, secure_brokers: SiteBrokers) -> None:
    from edgecascade.tools.broker import probe_mqtt

    assert not probe_mqtt("localhost", secure_brokers.site.files.port)


def test_device_cannot_speak_for_another(peers, topics: Topics) -> None:
    gw, a = peers["gw1"], peers["devA"]
    gw.subscribe(f"{topics.prefix}/dev/+/report", f"{topics.prefix}/dev/+/state")
    a.publish(topics.device_report("devB"), b"forged report")
    a.publish(topics.device_state("devB"), b"forged state", retain=True)
    a.publish(topics.device_report("devA"), b"own report")
    seen = gw.wait_for(topics.device_report("devA"), b"own report")
    assert [t for t, _, _ in seen] == [topics.device_report("devA")]


def test_device_reads_only_its_own_config(peers, topics: Topics) -> None:
    gw = peers["gw1"]
    gw.publish(topics.device_config("devB"), b"config of B", retain=True)
    gw.publish(topics.device_config("devA"), b"config of A", retain=True)
    a = peers["devA"]
    a.subscribe(topics.device_config("devB"), topics.device_config("devA"))
    gw.publish(topics.device_config("devB"), b"live config of B")
    gw.publish(topics.device_config("devA"), b"live config of A")
    seen = a.wait_for(topics.device_config("devA"), b"live config of A")
    assert {t for t, _, _ in seen} == {topics.device_config("devA")}
    b = peers["devB"]
    b.subscribe(topics.device_config("devB"))
    b.wait_for(topics.device_config("devB"), b"config of B")  # the retained one


def test_device_cannot_forge_config_results_or_see_everything(peers, topics: Topics) -> None:
    a, dash, gw = peers["devA"], peers["dash"], peers["gw1"]
    dash.subscribe(f"{topics.prefix}/res/+")
    b = peers["devB"]
    b.subscribe(topics.device_config("devB"))
    a.subscribe("#")
    a.publish(topics.result("devB"), b"forged result")
    a.publish(topics.device_config("devB"), b"forged config", retain=True)
    b.publish(topics.device_report("devB"), b"B's frame")
    gw.publish(topics.result("devB"), b"real result")
    gw.publish(topics.device_config("devB"), b"real config", retain=True)
    gw.publish(topics.device_config("devA"), b"barrier for A", retain=True)
    assert [p for _, p, _ in dash.wait_for(topics.result("devB"), b"real result")] == [
        b"real result"]
    assert [p for _, p, _ in b.wait_for(topics.device_config("devB"), b"real config")] == [
        b"real config"]
    seen = a.wait_for(topics.device_config("devA"), b"barrier for A")
    assert {t for t, _, _ in seen} == {topics.device_config("devA")}


def test_dashboard_reads_results_but_cannot_publish(peers, topics: Topics) -> None:
    dash, gw, a = peers["dash"], peers["gw1"], peers["devA"]
    codes = dash.subscribe(f"{topics.prefix}/res/+", f"{topics.prefix}/dev/+/report")
    assert codes[0] != SUB_REFUSED
    a.subscribe(topics.device_config("devA"))
    dash.publish(topics.result("devA"), b"dashboard forgery")
    dash.publish(topics.device_config("devA"), b"dashboard config", retain=True)
    a.publish(topics.device_report("devA"), b"a private frame")
    gw.publish(topics.result("devA"), b"real")
    gw.publish(topics.device_config("devA"), b"real config")
    assert [p for _, p, _ in dash.wait_for(topics.result("devA"), b"real")] == [b"real"]
    assert [p for _, p, _ in a.wait_for(topics.device_config("devA"))] == [b"real config"]


def test_client_id_cannot_take_over_another_session(site_folder: SiteFolder, peers,
                                                    topics: Topics) -> None:
    gw = peers["gw1"]
    gw.subscribe(f"{topics.prefix}/dev/+/report")
    thief = Peer.connect(site_folder.credentials("devA"), client_id="gw1")
    try:
        thief.publish(topics.device_report("devA"), b"still A")
        gw.wait_for(topics.device_report("devA"), b"still A")  # gw1 was not kicked off
    finally:
        thief.close()


def test_revoked_device_is_refused_at_next_connect(site_folder: SiteFolder,
                                                   secure_brokers: SiteBrokers) -> None:
    creds = site_folder.credentials("devB")
    Peer.connect(creds).close()
    site_folder.revoke("devB")
    assert not site_folder.creds_path("devB").exists()
    assert site_folder.reload() == [secure_brokers.site.pid, secure_brokers.cloud.pid]
    assert refused_soon(lambda: Peer.connect(creds))
    Peer.connect(site_folder.credentials("devA")).close()  # the others are untouched


def test_rotated_password_replaces_the_old(site_folder: SiteFolder,
                                           secure_brokers: SiteBrokers) -> None:
    old = site_folder.credentials("devA")
    new = site_folder.rotate("devA")
    assert new.password != old.password
    secure_brokers.site.reload()
    assert refused_soon(lambda: Peer.connect(old))
    Peer.connect(new).close()


def test_cloud_broker_only_workers_answer(site_folder: SiteFolder, peers,
                                          topics: Topics) -> None:
    gw, worker = peers.cloud("gw1"), peers.cloud("worker1")
    assert worker.subscribe(f"$share/workers/{topics.prefix}/cloud/req/+")[0] != SUB_REFUSED
    gw.subscribe(topics.cloud_response("gw1"))
    with pytest.raises(AssertionError):
        Peer.connect(site_folder.credentials("dash"), cloud=True)  # no account there
    with pytest.raises(Refused):
        Peer.connect_settings(_settings(site_folder, "devA", cloud=True), "rogue", "devA")
    gw.publish(topics.cloud_request("gw1"), b"request")
    worker.wait_for(topics.cloud_request("gw1"), b"request")
    gw.publish(topics.cloud_response("gw1"), b"gateway cannot answer itself")
    worker.publish(topics.cloud_response("gw1"), b"answer")
    assert [p for _, p, _ in gw.wait_for(topics.cloud_response("gw1"), b"answer")] == [b"answer"]


def _settings(folder: SiteFolder, name: str, cloud: bool):
    from edgecascade.mqtt import BrokerSettings

    creds = folder.credentials(name)
    url = folder.layout().url(cloud)
    return BrokerSettings(url, username=creds.username,
                          password=creds.password, ca_file=creds.ca_file)
