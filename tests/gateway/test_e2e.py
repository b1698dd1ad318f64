"""End to end with real mosquitto, the real edge model and a cloud responder seam."""

from __future__ import annotations

import urllib.request
from collections import Counter

import numpy as np

from edgecascade.gateway.cloud_client import CloudClient, PrivacyViolation
from edgecascade.gateway.config import CloudConfig
from edgecascade.gateway.edge import EdgeAnswer
from edgecascade.gateway.metrics import GatewayMetrics
from edgecascade.gateway.spool import Spool
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import (
    DeviceConfig,
    DeviceState,
    Frame,
    Metrics,
    Report,
    ServiceState,
    TopicKind,
    decode,
    encode,
)
from tests.gateway.conftest import decoded_results
from tests.gateway.support import edge_split, frame_of, report
from tests.support import Collector, publish


def http(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def send(broker, topics, reports: list[Report]) -> None:
    publish(broker.host, broker.port, [(topics.device_report(r.device_id), encode(r))
                                       for r in reports])


def test_each_report_gets_one_result_from_the_right_tier(broker, topics, start_gateway,
                                                         responder, results, closing):
    sure, unsure = edge_split()
    state = Collector(broker.host, broker.port,
                      [topics.gateway_state("gw1"), topics.gateway_metrics("gw1")])
    closing.append(state)
    gw = start_gateway(broker.url, topics)
    reports = ([report("d1", i, confident=True) for i in range(5)]
               + [report("d1", 10 + i, confident=False, image=sure[i]) for i in range(5)]
               + [report("d2", i, confident=False, image=unsure[i]) for i in range(3)]
               + [report("d3", 1, confident=False)])  # unsure, no frame
    send(broker, topics, reports)
    results.wait_for(len(reports), 30)
    by_key = {r.key: r for r in decoded_results(results)}
    assert len(by_key) == len(reports) == len(results.messages), results.describe()
    tiers = Counter(r.tier for r in by_key.values())
    assert tiers == {"device": 6, "edge": 5, "cloud": 3}, results.describe()
    cloud = [r for r in by_key.values() if r.tier == "cloud"]
    assert all(r.reason == "cloud_answer" and r.cost > 0 and r.escalation == "low_confidence"
               and r.model_id == "mnist-cloud" and r.revision == 0 for r in cloud)
    assert all(r.cost == 0 for r in by_key.values() if r.tier != "cloud")
    assert by_key[("d3", 1, 1)].reason == "no_frame"
    edge = [r for r in by_key.values() if r.tier == "edge"]
    assert all(r.model_id == "mnist-edge" and r.reason == "edge_confident" for r in edge)
    # observability: retained birth and metrics summary, HTTP endpoints
    state.wait_for(1, 10, where=lambda m: m.topic == topics.gateway_metrics("gw1"))
    birth = decode(ServiceState, state.wait_for(1, 10, where=lambda m: m.topic.endswith(
        "/state"))[0].payload)
    assert birth.online
    assert http(gw.http_port, "/healthz")[0] == 200
    assert http(gw.http_port, "/readyz")[0] == 200
    code, text = http(gw.http_port, "/metrics")
    assert code == 200 and 'ec_gateway_results_total{reason="edge_confident",tier="edge"} 5.0' \
        in text and "ec_gateway_latency_seconds_bucket" in text
    gw.stop()
    assert http_down_or_503(gw)
    state.wait_for(1, 10, where=lambda m: m.topic.endswith("/state")
                   and not decode(ServiceState, m.payload).online)
    late = Collector(broker.host, broker.port, [topics.gateway_state("gw1")])  # after the fact
    closing.append(late)
    kept = late.wait_for(1, 10)[0]
    assert kept.retain and not decode(ServiceState, kept.payload).online


def http_down_or_503(gw) -> bool:
    try:
        return http(gw.http_port, "/readyz")[0] == 503
    except OSError:
        return True


def test_duplicates_are_answered_once(broker, topics, start_gateway, responder, results):
    sure, unsure = edge_split()
    gw = start_gateway(broker.url, topics)
    reps = [report("d1", 1, confident=True), report("d1", 2, confident=False, image=sure[0]),
            report("d1", 3, confident=False, image=unsure[0])]
    send(broker, topics, reps * 3)
    results.wait_for(3, 30)
    # a fresh marker frame after the duplicates: once it is answered, the duplicates were seen
    send(broker, topics, [report("d1", 99, confident=True)])
    results.wait_for(4, 30)
    assert gw.metrics.value("duplicates") >= 6
    keys = Counter(r.key for r in decoded_results(results))
    assert all(n == 1 for n in keys.values()), results.describe()


def test_malformed_flood_is_counted_and_good_traffic_is_unaffected(broker, topics,
                                                                   start_gateway, results):
    gw = start_gateway(broker.url, topics, cloud=CloudConfig(enabled=False))
    junk = [(topics.device_report("d1"), b"\xc1" * (i % 7 + 1)) for i in range(100)]
    junk += [(topics.device_report("d1"), encode(report("other", i, confident=True)))
             for i in range(20)]  # device id of the payload is not the topic's
    bad_shape = Report(**{**report("d1", 500, confident=False).__dict__,
                          "frame": Frame(data=bytes(100), shape=(10, 10))})
    junk += [(topics.device_report("d1"), encode(bad_shape))]
    good = [(topics.device_report("d1"), encode(report("d1", i, confident=True)))
            for i in range(30)]
    mixed = [x for pair in zip(junk[:30], good, strict=True) for x in pair] + junk[30:]
    publish(broker.host, broker.port, mixed)
    results.wait_for(30, 30)
    send(broker, topics, [report("d1", 1000, confident=True)])
    results.wait_for(31, 30)
    assert len(results.messages) == 31
    assert gw.metrics.value("rejected", reason="report:*") == 100
    assert gw.metrics.value("rejected", reason="report:topic_mismatch") == 20
    assert gw.metrics.value("rejected", reason="report:frame_shape") == 1
    assert gw.ready


def test_allowlist_rejects_unknown_devices(broker, topics, start_gateway, results):
    from edgecascade.gateway.config import DevicesConfig

    gw = start_gateway(broker.url, topics, devices=DevicesConfig(allowlist=("d1",)))
    send(broker, topics, [report("intruder", 1, confident=True), report("d1", 1, confident=True)])
    results.wait_for(1, 30)
    send(broker, topics, [report("d1", 2, confident=True)])
    results.wait_for(2, 30)
    assert {r.device_id for r in decoded_results(results)} == {"d1"}
    assert gw.metrics.value("rejected", reason="report:unknown_device") == 1


def test_private_frames_never_leave_the_site(broker, topics, start_gateway, responder, results):
    sure, unsure = edge_split()
    gw = start_gateway(broker.url, topics)
    reps = [report("p1", i, confident=False, image=unsure[i], private=True) for i in range(3)]
    reps.append(report("d1", 1, confident=False, image=unsure[3]))  # a public one, for contrast
    send(broker, topics, reps)
    results.wait_for(4, 30)
    by_dev = {r.key: r for r in decoded_results(results)}
    private = [r for k, r in by_dev.items() if k[0] == "p1"]
    assert all(r.tier == "edge" and r.reason == "privacy" and r.degraded for r in private)
    assert by_dev[("d1", 1, 1)].tier == "cloud"
    assert all(i.device_id != "p1" for req in responder.requests for i in req.items)
    assert gw.spool is not None and all(k[0] != "p1" for k in gw.spool.stored_keys())


def test_the_cloud_client_refuses_private_frames_at_its_boundary(tmp_path, topics):
    metrics = GatewayMetrics()
    spool = Spool(tmp_path / "s.sqlite", 1 << 20)
    client = CloudClient(settings=BrokerSettings(), topics=topics, gateway_id="gw1",
                         cfg=CloudConfig(), spool=spool, metrics=metrics,
                         on_answer=lambda o: None)
    try:
        client.enqueue(("p", 1, 1), frame_of(0), private=True, value=1.0)
    except PrivacyViolation:
        pass
    else:
        raise AssertionError("a private frame was accepted")
    assert spool.depth == 0 and metrics.value("privacy_blocked") == 1


def test_identical_frame_is_answered_from_the_cache(broker, topics, start_gateway, responder,
                                                    results):
    _, unsure = edge_split()
    gw = start_gateway(broker.url, topics)
    send(broker, topics, [report("d1", 1, confident=False, image=unsure[0])])
    results.wait_for(1, 30)
    send(broker, topics, [report("d2", 1, confident=False, image=unsure[0])])
    results.wait_for(2, 30)
    second = [r for r in decoded_results(results) if r.device_id == "d2"][0]
    assert (second.tier, second.reason, second.model_id) == ("cache", "cache_hit", "mnist-cloud")
    assert second.age_ms is not None and responder.items_seen() == 1
    assert gw.metrics.value("cache_hits", kind="content") == 1


def test_devices_without_an_epoch_get_one_assigned(broker, topics, start_gateway, closing):
    configs = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_CONFIG)])
    closing.append(configs)
    start_gateway(broker.url, topics)
    birth = DeviceState(device_id="d9", online=True, ts_ms=1)
    publish(broker.host, broker.port, [(topics.device_state("d9"), encode(birth))], retain=True)
    got = configs.wait_for(1, 30)
    first = decode(DeviceConfig, got[0].payload)
    assert first.epoch is not None and first.epoch > 0
    publish(broker.host, broker.port, [(topics.device_state("d9"), encode(birth))])
    got = configs.wait_for(2, 30)
    assert decode(DeviceConfig, got[1].payload).epoch > first.epoch
    with_epoch = DeviceState(device_id="d8", online=True, ts_ms=1, epoch=5)
    publish(broker.host, broker.port, [(topics.device_state("d8"), encode(with_epoch))])
    publish(broker.host, broker.port, [(topics.device_state("d9"), encode(birth))])
    got = configs.wait_for(3, 30)
    assert all(m.topic == topics.device_config("d9") for m in got)


def test_metrics_message_is_decodable(broker, topics, start_gateway, closing):
    c = Collector(broker.host, broker.port, [topics.gateway_metrics("gw1")])
    closing.append(c)
    start_gateway(broker.url, topics)
    send(broker, topics, [report("d1", 1, confident=True)])
    m = c.wait_for(1, 30, where=lambda m: decode(Metrics, m.payload).values.get(
        "ec_gateway_reports_total", 0) >= 1)
    assert decode(Metrics, m[-1].payload).service_id == "gw1"


class GatedEdgeModelSeam:
    """Test seam at the gateway's EdgeModel protocol: the real edge model, held until
    ``gate`` is set, so the edge queue fills up deterministically."""

    def __init__(self) -> None:
        import threading

        from edgecascade.gateway.edge import TFLiteEdgeModel
        from tests.gateway.support import EDGE_MODEL

        self.real = TFLiteEdgeModel(str(EDGE_MODEL))
        self.model_id, self.model_version = self.real.model_id, self.real.model_version
        self.input_shape = self.real.input_shape
        self.gate = threading.Event()

    def pixels(self, frame: Frame) -> np.ndarray:
        return self.real.pixels(frame)

    def classify(self, pixels: np.ndarray) -> list[EdgeAnswer]:
        self.gate.wait(30)
        return self.real.classify(pixels)


def test_full_edge_queue_sends_frames_to_the_cloud(broker, topics, tmp_path, responder,
                                                   results, closing):
    from edgecascade.gateway.config import EdgeConfig
    from edgecascade.gateway.service import Gateway
    from tests.gateway.support import make_config

    sure, _ = edge_split()
    model = GatedEdgeModelSeam()
    cfg = make_config(tmp_path, broker.url, topics,
                      edge=EdgeConfig(queue_size=2, max_batch=1, max_delay_ms=0))
    gw = Gateway(cfg, edge_model=model).start()
    closing.append(gw)
    n = 10
    send(broker, topics, [report("d1", i, confident=False, image=sure[i]) for i in range(n)])
    results.wait_for(n - 2, 60)  # all but the two held at the edge, answered by the cloud
    model.gate.set()
    results.wait_for(n, 60)
    rs = decoded_results(results)
    assert len({r.key for r in rs}) == n == len(rs)
    assert gw.metrics.value("decisions", action="cloud", reason="edge_busy") == n - 2
    assert sorted(r.tier for r in rs) == ["cloud"] * (n - 2) + ["edge"] * 2


def test_exhausted_budget_keeps_frames_local(broker, topics, start_gateway, responder, results):
    from edgecascade.gateway.config import CloudConfig

    _, unsure = edge_split()
    start_gateway(broker.url, topics, cloud=CloudConfig(budget_messages=0))
    send(broker, topics, [report("d1", i, confident=False, image=unsure[i]) for i in range(3)])
    results.wait_for(3, 30)
    rs = decoded_results(results)
    assert all(r.reason == "budget" and r.degraded and r.tier == "edge" for r in rs)
    assert responder.items_seen() == 0


def test_mqtt5_sessions_work_too(broker, topics, start_gateway, responder, results):
    from dataclasses import replace as dc_replace

    from edgecascade.mqtt import BrokerSettings

    _, unsure = edge_split()
    site = BrokerSettings(url=broker.url, keepalive=5, mqtt5=True)
    gw = start_gateway(broker.url, topics, broker=site, cloud_broker=dc_replace(site))
    send(broker, topics, [report("d1", 1, confident=True),
                          report("d1", 2, confident=False, image=unsure[0])])
    results.wait_for(2, 30)
    assert sorted(r.tier for r in decoded_results(results)) == ["cloud", "device"]
    assert gw.ready
