"""Every workload through the whole system, unchanged code paths: emulated devices
(the workload's mcu model in tflite-micro, its frames of any shape) -> real mosquitto ->
gateway (the workload's edge model and thresholds) -> cloud worker (its cloud model) ->
one answer per report, from the tier the cascade rules pick."""

from __future__ import annotations

from collections import Counter

from edgecascade.cloud.model import load_classifier
from edgecascade.cloud.worker import CloudWorker
from edgecascade.config import HttpSection
from edgecascade.emulator.fleet import Fleet
from edgecascade.emulator.ledger import GroundTruth
from edgecascade.emulator.model import FrameSource
from edgecascade.gateway.config import CloudConfig, EdgeConfig, GatewayConfig, StorageConfig
from edgecascade.gateway.service import Gateway
from edgecascade.models.cascade import load_settings
from edgecascade.models.workload import Workload
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import Result, TopicKind
from tests.support import Collector

DEVICES, REPORTS = 4, 40


def start_worker(broker, topics, workload: Workload, closing) -> CloudWorker:
    from edgecascade.cloud.aws import broker_settings
    from tests.cloud.helpers import make_config

    config = make_config(broker.url, topics, model_path=workload.model_path("cloud"))
    worker = CloudWorker(config, load_classifier(str(workload.model_path("cloud"))),
                         broker_settings(config))
    worker.start()
    closing.append(worker)
    return worker


def start_gateway(broker, topics, workload: Workload, tmp_path, closing) -> Gateway:
    cfg = GatewayConfig(
        gateway_id="gw1", prefix=topics.prefix, broker=BrokerSettings(url=broker.url,
                                                                      keepalive=5),
        thresholds=load_settings(workload.thresholds_path).thresholds,
        edge=EdgeConfig(model=str(workload.model_path("edge"))),
        cloud=CloudConfig(deadline_ms=5000, breaker_reset_s=0.5, retry_s=0.3),
        storage=StorageConfig(state_dir=str(tmp_path / "gw-state")),
        http=HttpSection(port=0), metrics_interval_s=0.5)
    gw = Gateway(cfg).start()
    closing.append(gw)
    return gw


def test_every_report_is_answered_by_the_tier_the_cascade_picks(
        workload: Workload, broker, topics, tmp_path, closing) -> None:
    results = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    closing.append(results)
    start_worker(broker, topics, workload, closing)
    start_gateway(broker, topics, workload, tmp_path, closing)
    source = FrameSource(workload=workload.root)
    spec = workload.entry("mcu").input
    assert tuple(source.answer(0).frame.shape) == spec.shape  # frames keep their shape
    ledger = GroundTruth()
    fleet = Fleet(BrokerSettings(broker.url), topics, DEVICES, 50.0, reports=REPORTS,
                  source=source, ledger=ledger)
    closing.append(fleet)
    fleet.start()
    total = DEVICES * REPORTS
    results.wait_for(total, 120)
    got = {r.key: r for r in results.decoded(Result) if isinstance(r, Result)}
    assert len(got) == total, results.describe()
    tiers = Counter(r.tier for r in got.values())
    models = {r.tier: r.model_id for r in got.values()}
    reg = workload.registry(verify=False)
    by_tier = {"device": "mcu", "edge": "edge", "cloud": "cloud"}
    for tier, model_id in models.items():
        if tier in by_tier:  # "cache": a frame the gateway has answered before
            assert model_id == reg.for_tier(by_tier[tier]).id
    assert tiers["device"] > 0 and tiers["edge"] + tiers["cloud"] + tiers["cache"] > 0
    truth = {k: ledger.get(k) for k in got}
    correct = sum(1 for k, r in got.items() if truth[k] and r.label == truth[k].label)
    assert correct / total >= 0.9, (workload.name, tiers, correct / total)


def test_streams_replay_each_group_in_time_order(workload: Workload) -> None:
    source = FrameSource(workload=workload.root)
    if source.dataset.groups is None:
        assert source.streams == ()
        return
    seen = [source.frame_index("dev-a", seq, 7919) for seq in range(10)]
    groups = {int(source.dataset.groups[i]) for i in seen}
    assert len(groups) == 1 and seen == sorted(seen)  # one person, in recorded order
