"""The degraded answer comes from the source calibration measured to be right most often.

On MNIST (independent digits) the device's own answer beats the stream's last-good
answer, so with the edge off and the cloud down the gateway must answer from the device,
and its degraded accuracy is at least the device's own on the same frames."""

from __future__ import annotations

from edgecascade.config import HttpSection
from edgecascade.emulator.fleet import Fleet
from edgecascade.emulator.ledger import GroundTruth
from edgecascade.emulator.model import FrameSource
from edgecascade.gateway.cache import Answer
from edgecascade.gateway.config import CloudConfig, EdgeConfig, GatewayConfig, StorageConfig
from edgecascade.gateway.fallback import measured_fallback
from edgecascade.gateway.service import Gateway
from edgecascade.models.cascade import load_settings
from edgecascade.models.workload import HAR, MNIST
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import Result, TopicKind
from tests.support import Collector


def answer(label: int, conf: float, tier: str, ts: int) -> Answer:
    return Answer(label, conf, tier, "m", 1, ts)


def test_the_measured_order_decides_and_the_tier_names_the_source() -> None:
    device, edge = answer(1, 0.5, "device", 1000), answer(2, 0.9, "edge", 1000)
    last = answer(3, 0.99, "cloud", 900)
    got, stale = measured_fallback(device, None, last, 1000, 60_000, ("device", "last_good@1"))
    assert (got.label, got.tier, stale) == (1, "device", False)
    got, stale = measured_fallback(device, None, last, 1000, 60_000, ("last_good@1", "device"))
    assert (got.label, got.tier, stale) == (3, "cache", True)
    got, stale = measured_fallback(device, edge, last, 1000, 60_000, ("edge", "last_good@1"))
    assert (got.tier, stale) == ("edge", False)
    # too old: the next source in the order
    got, _ = measured_fallback(device, None, last, 100_000, 60_000, ("last_good@1", "device"))
    assert got.tier == "device"
    # no measured order: the built-in rule (a more confident last-good answer wins)
    got, stale = measured_fallback(device, None, last, 1000, 60_000, ())
    assert got.tier == "cache" and stale


def test_the_calibrated_rules_are_measured_per_workload() -> None:
    mnist = load_settings(MNIST.thresholds_path)
    assert mnist.fallback.accuracy["device"] > mnist.fallback.accuracy["last_good@1"]
    assert mnist.thresholds.fallback_order.index("device") < \
        mnist.thresholds.fallback_order.index("last_good@1")
    har = load_settings(HAR.thresholds_path)
    assert har.thresholds.fallback_order == har.fallback.order and har.fallback.frames > 0


def test_mnist_degraded_answers_are_at_least_the_devices_own(broker, topics, tmp_path,
                                                             closing) -> None:
    results = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    closing.append(results)
    settings = load_settings(MNIST.thresholds_path)
    gw = Gateway(GatewayConfig(
        gateway_id="gw1", prefix=topics.prefix, broker=BrokerSettings(url=broker.url,
                                                                      keepalive=5),
        thresholds=settings.thresholds, edge=EdgeConfig(model=""),  # edge tier off
        cloud=CloudConfig(enabled=False),                            # cloud down
        storage=StorageConfig(state_dir=str(tmp_path / "gw")),
        http=HttpSection(port=0), metrics_interval_s=0.5)).start()
    closing.append(gw)
    source = FrameSource(workload=MNIST)
    ledger = GroundTruth()
    devices, reports = 4, 60
    fleet = Fleet(BrokerSettings(broker.url), topics, devices, 100.0, reports=reports,
                  source=source, ledger=ledger)
    closing.append(fleet)
    fleet.start()
    results.wait_for(devices * reports, 120)
    got = [r for r in results.decoded(Result) if isinstance(r, Result)]
    degraded = [r for r in got if r.degraded or r.stale]
    assert len({r.key for r in got}) == devices * reports and degraded
    assert all(r.tier == "device" and not r.stale for r in degraded)  # never a stale answer
    right = own = 0
    for r in degraded:
        truth = ledger.get(r.key)
        assert truth is not None
        right += r.label == truth.label
        own += source.answer(truth.index).classes[0] == truth.label
    assert right >= own
