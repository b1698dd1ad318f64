"""The broker harness, local process and container alike: config with files outside the
work directory, graceful restart keeping persisted sessions on the same port, SIGKILL,
startup errors in the message; and which one ``make_broker`` picks, and why."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgecascade.protocol import Topics
from edgecascade.tools.broker import (
    Broker,
    BrokerFailed,
    MosquittoBroker,
    broker_backend,
    make_broker,
    probe_mqtt,
)
from edgecascade.tools.broker_docker import ContainerBroker, docker_status
from tests.support import Collector, publish


@pytest.fixture(params=["binary", "container"])
def new_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """``new_broker(**kwargs)`` -> an unstarted broker of the parametrized kind."""
    if request.param == "container" and not docker_status().ok:
        pytest.skip(f"Docker can't run here: {docker_status().reason}")
    made: list[Broker] = []

    def new(**kwargs: object) -> Broker:
        cls = MosquittoBroker if request.param == "binary" else ContainerBroker
        broker: Broker = cls(tmp_path / f"b{len(made)}", **kwargs)  # type: ignore[arg-type]
        made.append(broker)
        return broker

    yield new
    for broker in made:
        broker.stop()


class Keeper:
    """A persistent session (clean_session false) subscribed at QoS 1."""

    def __init__(self, broker: Broker, topic: str, client_id: str) -> None:
        self.got: list[bytes] = []
        self.event = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a, **k: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        assert subscribed.wait(10), "no SUBACK"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.got.append(bytes(msg.payload))
        self.event.set()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_restart_keeps_the_port_and_queued_messages(new_broker, topics: Topics) -> None:
    broker = new_broker()
    broker.start()
    topic = f"{topics.prefix}/queued"
    keeper = Keeper(broker, topic, f"keeper-{topics.prefix.split('/')[0]}")
    keeper.close()  # offline: the broker queues for the session
    publish(broker.host, broker.port, [(topic, b"while-away")], qos=1)
    port = broker.port
    broker.restart(down_for=0.5)
    assert broker.port == port and broker.running
    back = Keeper(broker, topic, f"keeper-{topics.prefix.split('/')[0]}")
    try:
        assert back.event.wait(10), "the queued message did not survive the restart"
        assert back.got == [b"while-away"]
    finally:
        back.close()


def test_kill_closes_the_port_at_once_and_start_comes_back(new_broker) -> None:
    broker = new_broker()
    broker.start()
    port = broker.port
    broker.kill()
    assert not broker.running and not probe_mqtt(broker.host, port)
    broker.start()
    assert broker.port == port and probe_mqtt(broker.host, port)


def test_extra_config_may_name_files_outside_the_work_directory(new_broker, tmp_path: Path,
                                                                 topics: Topics) -> None:
    acl = tmp_path / "policy" / "acl"
    acl.parent.mkdir()
    acl.write_text(f"topic readwrite {topics.prefix}/allowed/#\n")
    broker = new_broker(extra_config=f"acl_file {acl}\n")
    broker.start()
    allowed, denied = f"{topics.prefix}/allowed/x", f"{topics.prefix}/denied/x"
    seen = Collector(broker.host, broker.port, [allowed, denied])
    try:
        publish(broker.host, broker.port, [(denied, b"no"), (allowed, b"yes")])
        seen.wait_for(1)
        assert [(m.topic, m.payload) for m in seen.messages] == [(allowed, b"yes")]
    finally:
        seen.close()


def test_a_bad_config_fails_with_mosquittos_own_words(new_broker) -> None:
    broker = new_broker(extra_config="no_such_option 1\n")
    with pytest.raises(BrokerFailed, match="no_such_option"):
        broker.start(timeout=10)
    assert not broker.running


@pytest.fixture
def fresh_status(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The automatic choice, asked afresh (whatever this run forces for its fixtures)."""
    monkeypatch.delenv("EC_TEST_BROKER", raising=False)
    docker_status.cache_clear()
    yield
    docker_status.cache_clear()


def test_make_broker_uses_a_container_wherever_docker_runs(tmp_path: Path,
                                                          fresh_status: None) -> None:
    backend = broker_backend()
    chosen = make_broker(tmp_path / "b")
    assert isinstance(chosen, ContainerBroker) == docker_status().ok
    assert backend.kind == ("container" if docker_status().ok else "binary")
    if not docker_status().ok:  # the fallback says why
        assert docker_status().reason in backend.detail


def test_a_missing_image_falls_back_to_the_binary_saying_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_status: None) -> None:
    monkeypatch.setenv("EC_BROKER_IMAGE", "edgecascade-no-such-image:none")
    backend = broker_backend()
    assert backend.kind == "binary", backend
    # with an engine, the missing image is the reason; without one, the engine is
    assert ("edgecascade-no-such-image:none" if docker_status().ok
            else docker_status().reason) in backend.detail
    assert isinstance(make_broker(tmp_path / "b"), MosquittoBroker)
    monkeypatch.setenv("EC_TEST_BROKER", "binary")
    assert broker_backend().detail == "local mosquitto binary (EC_TEST_BROKER=binary)"
