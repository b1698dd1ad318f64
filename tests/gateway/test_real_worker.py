"""The gateway against the real cloud worker (issue 6) and the real cloud model."""

from __future__ import annotations

from pathlib import Path

from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import encode
from tests.gateway.conftest import decoded_results
from tests.gateway.support import edge_split, images, report
from tests.support import publish

CLOUD_MODEL = Path(__file__).resolve().parents[2] / "models" / "mnist-cloud.tflite"


def test_escalations_answered_by_the_real_worker(broker, topics, start_gateway, results,
                                                 closing):
    from edgecascade.cloud.config import parse_config
    from edgecascade.cloud.model import load_classifier
    from edgecascade.cloud.worker import CloudWorker

    wcfg = parse_config({"version": 1, "worker_id": "wk1", "prefix": topics.prefix,
                         "shared_group": "ecw", "broker": {"url": broker.url, "keepalive": 10},
                         "model": {"path": str(CLOUD_MODEL), "max_batch": 32,
                                   "max_delay_ms": 5}}, env={})
    worker = CloudWorker(wcfg, load_classifier(str(CLOUD_MODEL)),
                         BrokerSettings(url=broker.url, keepalive=10))
    worker.start()
    closing.append(worker)
    _, unsure = edge_split()
    gw = start_gateway(broker.url, topics)
    reps = [report("d1", i, confident=False, image=unsure[i]) for i in range(8)]
    publish(broker.host, broker.port, [(topics.device_report("d1"), encode(r)) for r in reps])
    results.wait_for(8, 60)
    got = {r.seq: r for r in decoded_results(results)}
    _, labels = images()
    assert all(r.tier == "cloud" and r.model_id == "mnist-cloud" and r.revision == 0
               and r.cost > 0 for r in got.values()), [r.to_plain() for r in got.values()]
    correct = sum(got[i].label == int(labels[unsure[i]]) for i in range(8))
    assert correct >= 5  # the hard frames the edge was unsure of; the cloud gets most right
    assert gw.metrics.value("cloud_responses", status="ok") >= 1
