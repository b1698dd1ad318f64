"""Several gateways split the reports through a shared subscription; each frame answered once."""

from __future__ import annotations

from collections import Counter

from edgecascade.gateway.config import CloudConfig
from edgecascade.protocol import encode
from tests.gateway.conftest import decoded_results
from tests.gateway.support import report
from tests.support import publish


def test_two_gateways_share_the_load(broker, topics, start_gateway, results):
    no_cloud = CloudConfig(enabled=False)
    a = start_gateway(broker.url, topics, gateway_id="gwa", shared_group="gws", cloud=no_cloud)
    b = start_gateway(broker.url, topics, gateway_id="gwb", shared_group="gws", cloud=no_cloud)
    n = 60
    publish(broker.host, broker.port, [(topics.device_report(f"d{i % 4}"),
                                        encode(report(f"d{i % 4}", i, confident=True)))
                                       for i in range(n)])
    results.wait_for(n, 30)
    rs = decoded_results(results)
    assert len({r.key for r in rs}) == n == len(rs)
    by_gw = Counter(r.gateway_id for r in rs)
    assert by_gw["gwa"] > 0 and by_gw["gwb"] > 0, by_gw
    assert a.metrics.value("reports") + b.metrics.value("reports") == n
