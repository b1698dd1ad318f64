"""The gateway judges each report by the thresholds of the model version it names: a v2
manifest (retained) lowers the device threshold for v2 only. Real gateway and mosquitto.
"""

from __future__ import annotations

from dataclasses import replace

from edgecascade.gateway.config import CloudConfig
from edgecascade.protocol import confidence_to_wire, encode
from edgecascade.tools.models.deploy import build_release
from tests.gateway.conftest import decoded_results
from tests.gateway.support import report
from tests.support import publish


def test_reports_of_v1_and_v2_get_their_own_thresholds(broker, topics, start_gateway, results):
    manifest = build_release(b"\x01" * 10, model_id="mnist-mcu", version=2, tier="mcu",
                             arena_bytes=1, conf_threshold=0.5, margin_threshold=0.0,
                             complexity_limit=1.0).manifest
    publish(broker.host, broker.port, [(topics.model_manifest("mcu"), encode(manifest))],
            retain=True)
    start_gateway(broker.url, topics, cloud=CloudConfig(enabled=False))
    base = report("d1", 1, confident=True)
    conf = (confidence_to_wire(0.6), confidence_to_wire(0.01))
    v1 = replace(base, seq=1, confidences=conf)
    v2 = replace(base, seq=2, confidences=conf, model_version=2)
    publish(broker.host, broker.port, [(topics.device_report("d1"), encode(r)) for r in (v1, v2)])
    results.wait_for(2, 30)
    by_seq = {r.seq: r for r in decoded_results(results)}
    assert by_seq[1].reason == "no_frame"  # v1: 0.6 is below the configured threshold
    assert (by_seq[2].reason, by_seq[2].model_version) == ("confident", 2)  # v2's own: 0.5
