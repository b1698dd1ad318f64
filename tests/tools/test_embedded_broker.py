"""The demo's fallback broker (amqtt) carries our messages, retained ones included."""

from __future__ import annotations

from edgecascade.protocol import DeviceState, TopicKind, Topics, decode, encode
from edgecascade.tools.broker import probe_mqtt
from edgecascade.tools.embedded_broker import EmbeddedBroker
from tests.support import Collector, publish


def test_embedded_broker_round_trip_and_retained(topics: Topics) -> None:
    broker = EmbeddedBroker()
    broker.start()
    try:
        assert probe_mqtt(broker.host, broker.port)
        state = DeviceState("cam-01", True, 5)
        publish(broker.host, broker.port, [(topics.device_state("cam-01"), encode(state))],
                retain=True)
        late = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_STATE)])
        try:
            (msg,) = late.wait_for(1)
            assert decode(DeviceState, msg.payload) == state
        finally:
            late.close()
    finally:
        broker.stop()
    assert not probe_mqtt(broker.host, broker.port)
