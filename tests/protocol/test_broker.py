"""The contract over a real mosquitto: round trip, retained state, last will."""

from __future__ import annotations

import socket
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgecascade.protocol import DeviceState, Report, TopicKind, Topics, decode, encode
from edgecascade.tools.broker import MosquittoBroker, probe_mqtt
from edgecascade.tools.vectors import cases
from tests.support import Collector, publish


def test_report_round_trip_through_the_broker(broker: MosquittoBroker, topics: Topics) -> None:
    sent = [m for name, m in cases().items() if name.startswith("report_")]
    assert all(isinstance(m, Report) for m in sent)
    collector = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_REPORT)])
    try:
        publish(broker.host, broker.port, [(topics.device_report(m.device_id), encode(m))
                                           for m in sent if isinstance(m, Report)])
        got = collector.wait_for(len(sent))
        assert [decode(Report, m.payload) for m in got] == sent
    finally:
        collector.close()


def test_retained_state_reaches_a_late_subscriber(broker: MosquittoBroker, topics: Topics) -> None:
    birth = DeviceState("cam-01", True, 1, epoch=3, fw_version="0.1.0")
    publish(broker.host, broker.port, [(topics.device_state("cam-01"), encode(birth))], retain=True)
    late = Collector(broker.host, broker.port, [topics.device_state("cam-01")])
    try:
        (msg,) = late.wait_for(1)
        assert msg.retain and decode(DeviceState, msg.payload) == birth
    finally:
        late.close()


def test_last_will_is_published_retained_when_a_device_dies(
    broker: MosquittoBroker, topics: Topics
) -> None:
    death = DeviceState("cam-09", False, 0)
    topic = topics.device_state("cam-09")
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cam-09")
    device.will_set(topic, encode(death), qos=1, retain=True)
    device.connect(broker.host, broker.port, keepalive=5)
    device.loop_start()
    watcher = Collector(broker.host, broker.port, [topic])
    try:
        time.sleep(0.2)  # let the device's CONNECT complete before we cut it
        # Cut the TCP connection without DISCONNECT, as a power loss would.
        sock = device.socket()
        assert isinstance(sock, socket.socket)
        device.loop_stop()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        (msg,) = watcher.wait_for(1, timeout=20)
        assert decode(DeviceState, msg.payload) == death
    finally:
        watcher.close()
    late = Collector(broker.host, broker.port, [topic])
    try:
        (msg,) = late.wait_for(1)
        assert msg.retain and decode(DeviceState, msg.payload) == death
    finally:
        late.close()


def test_broker_restart_keeps_the_port(broker: MosquittoBroker) -> None:
    port = broker.port
    broker.stop()
    assert not probe_mqtt(broker.host, port)
    broker.start()
    assert broker.port == port and probe_mqtt(broker.host, port)
