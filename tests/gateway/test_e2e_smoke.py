from __future__ import annotations

from edgecascade.gateway.service import Gateway
from edgecascade.protocol import Result, TopicKind, encode
from tests.gateway.support import CloudResponderSeam, edge_split, make_config, report
from tests.support import Collector, publish


def test_smoke(broker, topics, tmp_path):
    sure, unsure = edge_split()
    cfg = make_config(tmp_path, broker.url, topics)
    responder = CloudResponderSeam(broker.host, broker.port, topics)
    results = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    gw = Gateway(cfg).start()
    try:
        reports = [report("d1", 1, confident=True), report("d1", 2, confident=False, image=sure[0]),
                   report("d1", 3, confident=False, image=unsure[0])]
        publish(broker.host, broker.port,
                [(topics.device_report("d1"), encode(r)) for r in reports])
        results.wait_for(3, 20)
        res = sorted((r for r in (m for m in results.decoded(Result))), key=lambda r: r.seq)
        print([r.to_plain() for r in res])
        assert [r.tier for r in res] == ["device", "edge", "cloud"]
    finally:
        gw.stop()
        results.close()
        responder.close()
