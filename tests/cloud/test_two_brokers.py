"""Production shape: site broker + cloud broker, the real gateway on both, real workers on
the cloud one; the cloud broker is cut and restored mid-run.

Checks the gateway's offline path end to end with real workers: answers go on locally
(degraded) while the cloud is away, the spool drains to the workers when it is back,
corrections arrive from the cloud model, and no frame ever gets two first answers.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from edgecascade.protocol import Result, TopicKind, encode
from tests.support import Collector, publish

gateway_support = pytest.importorskip("tests.gateway.support")
Gateway = pytest.importorskip("edgecascade.gateway.service").Gateway


def wait_until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def results_of(c: Collector) -> list[Result]:
    return [r for r in c.decoded(Result) if isinstance(r, Result)]


def test_cloud_broker_cut_and_restored_with_real_workers(broker_factory, topics, tmp_path,
                                                         worker_factory):
    site = broker_factory(name="site")
    cloud = broker_factory(name="cloud")
    workers = [worker_factory(cloud, topics, worker_id=w) for w in ("wkA", "wkB")]
    results = Collector(site.host, site.port, [topics.filter(TopicKind.RESULT)])
    _, unsure = gateway_support.edge_split()
    report = gateway_support.report
    gw = Gateway(gateway_support.make_config(tmp_path, site.url, topics,
                                             cloud_url=cloud.url)).start()
    try:
        def send(seqs: range) -> None:
            publish(site.host, site.port, [
                (topics.device_report("d1"),
                 encode(report("d1", s, confident=False, image=unsure[s])))
                for s in seqs])

        # 1. Cloud up: escalations answered by the real workers.
        send(range(0, 6))
        results.wait_for(6, 60)
        before = results_of(results)
        assert all(r.tier == "cloud" and r.model_id == "mnist-cloud" for r in before), \
            [r.to_plain() for r in before]

        # 2. Cut the cloud broker: local degraded answers, frames spooled.
        cloud.kill()
        wait_until(lambda: not gw.cloud.connected, 30, "the gateway to see the cloud down")
        send(range(6, 12))
        results.wait_for(12, 60)
        outage = [r for r in results_of(results) if r.seq >= 6]
        assert all(r.degraded and r.tier in ("edge", "cache") and r.revision == 0
                   for r in outage), [r.to_plain() for r in outage]

        # 3. Restore it on the same port: gateway and workers reconnect by themselves.
        cloud.start()
        wait_until(lambda: all(w.client.is_connected() for w in workers), 60,
                   "the workers to reconnect")
        results.wait_for(18, 90)  # 6 corrections from the cloud model
        send(range(12, 15))  # and new escalations go straight to the cloud again
        results.wait_for(21, 60)

        by_key: dict[tuple, list[Result]] = defaultdict(list)
        for r in results_of(results):
            by_key[r.key].append(r)
        for key, rs in by_key.items():
            assert len([r for r in rs if r.revision == 0]) == 1, (key, [r.to_plain() for r in rs])
        for s in range(6, 12):
            fixes = [r for r in by_key[("d1", 1, s)] if r.revision == 1]
            assert len(fixes) == 1 and fixes[0].tier == "cloud" \
                and fixes[0].model_id == "mnist-cloud", [r.to_plain() for r in by_key[("d1", 1, s)]]
        for s in range(12, 15):
            first = [r for r in by_key[("d1", 1, s)] if r.revision == 0][0]
            assert first.tier == "cloud" and not first.degraded
        answered = sum(w.metrics.value("ec_cloud_frames_total", outcome="answered")
                       for w in workers)
        assert answered >= 15  # every escalated frame reached a worker (spooled ones too)
    finally:
        gw.stop()
        results.close()
