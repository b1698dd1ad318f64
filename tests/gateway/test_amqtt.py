"""The demo's embedded broker (amqtt: MQTT 3.1.1, no shared subscriptions): the default
plain subscription works end to end."""

from __future__ import annotations

import pytest

from edgecascade.protocol import TopicKind, encode
from tests.gateway.conftest import decoded_results
from tests.gateway.support import CloudResponderSeam, edge_split, report
from tests.support import Collector, publish


def test_gateway_on_amqtt(topics, start_gateway, closing):
    pytest.importorskip("amqtt")
    from edgecascade.tools.embedded_broker import EmbeddedBroker

    broker = EmbeddedBroker()
    broker.start()
    closing.append(broker)
    results = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    closing.append(results)
    closing.append(CloudResponderSeam(broker.host, broker.port, topics))
    sure, unsure = edge_split()
    gw = start_gateway(f"mqtt://{broker.host}:{broker.port}", topics)
    reps = [report("d1", 1, confident=True), report("d1", 2, confident=False, image=sure[0]),
            report("d1", 3, confident=False, image=unsure[0]), report("d1", 1, confident=True)]
    publish(broker.host, broker.port, [(topics.device_report("d1"), encode(r)) for r in reps])
    results.wait_for(3, 60)
    publish(broker.host, broker.port, [(topics.device_report("d1"),
                                        encode(report("d1", 9, confident=True)))])
    results.wait_for(4, 60)  # the marker came after the duplicate: the duplicate was dropped
    tiers = [(r.seq, r.tier) for r in decoded_results(results)]
    assert sorted(tiers) == [(1, "device"), (2, "edge"), (3, "cloud"), (9, "device")]
    assert gw.cfg.shared_group is None
