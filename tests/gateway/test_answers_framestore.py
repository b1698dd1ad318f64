from __future__ import annotations

from edgecascade.gateway.answers import device_answer, fallback, make_result
from edgecascade.gateway.cache import Answer
from edgecascade.gateway.cloud_client import CloudClient
from edgecascade.gateway.config import CloudConfig
from edgecascade.gateway.metrics import GatewayMetrics
from edgecascade.gateway.spool import Spool
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import CloudItem, Frame, Reason, Topics, decode, encode
from tests.gateway.support import report

DEVICE = Answer(3, 0.4, "device", "mnist-mcu", 1, 10_000)
EDGE = Answer(5, 0.6, "edge", "mnist-edge", 1, 10_000)
LAST = Answer(7, 0.99, "cloud", "mnist-cloud", 1, 4_000)


def test_fallback_prefers_edge_then_a_fresh_confident_stale_answer_then_the_device():
    assert fallback(DEVICE, EDGE, LAST, 10_000, 60_000) == (EDGE, False)
    answer, stale = fallback(DEVICE, None, LAST, 10_000, 60_000)
    assert stale and answer.tier == "cache" and answer.label == 7
    assert fallback(DEVICE, None, LAST, 10_000, 1_000) == (DEVICE, False)  # too old
    assert fallback(DEVICE, None, None, 10_000, 60_000) == (DEVICE, False)


def test_stale_result_carries_its_age():
    answer, stale = fallback(DEVICE, None, LAST, 10_000, 60_000)
    r = make_result(("d", 1, 1), answer, reason=Reason.CLOUD_DOWN, gateway_id="gw",
                    now_ms=10_000, latency_ms=3.0, degraded=True, stale=stale)
    assert (r.tier, r.stale, r.age_ms, r.degraded) == ("cache", True, 6_000, True)
    assert device_answer(report("d", 1, confident=True), 5).tier == "device"


class InMemoryFrameStoreSeam:
    """Test seam for the S3 claim-check store (protocol/claimcheck.py): a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> str:
        self.objects[key] = data
        return f"mem://{key}"


def test_oversized_frames_go_by_claim_check_or_are_counted(tmp_path):
    big = Frame(data=bytes(130_872), shape=(4, 32718))  # fits a report, not a request
    topics = Topics("t/v1")
    store = InMemoryFrameStoreSeam()
    spool = Spool(tmp_path / "s.sqlite", 1 << 22)
    client = CloudClient(settings=BrokerSettings(), topics=topics, gateway_id="gw",
                         cfg=CloudConfig(), spool=spool, metrics=GatewayMetrics(),
                         on_answer=lambda o: None, frame_store=store)
    res = client.enqueue(("d", 1, 1), big, private=False, value=1.0)
    assert res.stored and list(store.objects) == ["gw/d/1/1"]
    item = decode(CloudItem, spool.next_batch(1, 1 << 20, 0)[0].item)
    assert item.frame is None and item.frame_ref == "mem://gw/d/1/1"
    assert decode(Frame, store.objects["gw/d/1/1"]) == big
    no_store = CloudClient(settings=BrokerSettings(), topics=topics, gateway_id="gw",
                           cfg=CloudConfig(), spool=Spool(tmp_path / "s2.sqlite", 1 << 22),
                           metrics=GatewayMetrics(), on_answer=lambda o: None)
    res = no_store.enqueue(("d", 1, 2), big, private=False, value=1.0)
    assert not res.stored and res.too_large and res.dropped == [("d", 1, 2)]
    small = no_store.enqueue(("d", 1, 3), Frame(data=bytes(784), shape=(28, 28)), False, 1.0)
    assert small.stored and len(encode(big)) > 130_000


class FailingFrameStoreSeam(InMemoryFrameStoreSeam):
    """The claim-check seam failing as S3 does: ``failures`` ClaimCheckErrors first."""

    def __init__(self, failures: int, transient: bool) -> None:
        super().__init__()
        self.failures = failures
        self.transient = transient

    def put(self, key: str, data: bytes) -> str:
        from edgecascade.protocol.claimcheck import ClaimCheckError

        if self.failures:
            self.failures -= 1
            raise ClaimCheckError(f"mem://{key}", "503 slow down", transient=self.transient)
        return super().put(key, data)


def test_a_failed_claim_check_is_a_failed_escalation_retried_when_transient(tmp_path):
    from edgecascade.gateway.cloud_client import CLAIM_RETRY_ATTEMPTS

    big = Frame(data=bytes(130_872), shape=(4, 32718))
    now = [1000.0]
    metrics = GatewayMetrics()

    def client(store: InMemoryFrameStoreSeam, name: str) -> CloudClient:
        return CloudClient(settings=BrokerSettings(), topics=Topics("t/v1"), gateway_id="gw",
                           cfg=CloudConfig(retry_s=1.0), spool=Spool(tmp_path / name, 1 << 22),
                           metrics=metrics, on_answer=lambda o: None, frame_store=store,
                           clock=lambda: now[0])

    flaky = client(FailingFrameStoreSeam(2, transient=True), "a.sqlite")
    res = flaky.enqueue(("d", 1, 1), big, private=False, value=1.0)
    assert not res.stored and res.reason == "claimcheck_retry" and not res.dropped
    assert metrics.value("claimcheck_errors", kind="transient") == 1
    flaky._retry_claim_checks(now[0])  # not due yet
    assert flaky.spool.depth == 0
    now[0] += 1.0
    flaky._retry_claim_checks(now[0])  # fails again: retried later still
    assert metrics.value("claimcheck_errors", kind="transient") == 2
    now[0] += 2.0
    flaky._retry_claim_checks(now[0])
    assert flaky.spool.stored_keys() == [("d", 1, 1)]  # stored: a correction will follow
    assert metrics.value("spool_dropped") == 0

    broken = client(FailingFrameStoreSeam(1, transient=False), "b.sqlite")
    res = broken.enqueue(("d", 1, 2), big, private=False, value=1.0)
    assert not res.stored and res.reason == "claimcheck"
    assert metrics.value("spool_dropped", reason="claimcheck") == 1

    hopeless = client(FailingFrameStoreSeam(100, transient=True), "c.sqlite")
    hopeless.enqueue(("d", 1, 3), big, private=False, value=1.0)
    for _ in range(CLAIM_RETRY_ATTEMPTS):
        now[0] += 10.0
        hopeless._retry_claim_checks(now[0])
    assert metrics.value("spool_dropped", reason="claimcheck") == 2  # out of retries
    assert hopeless.spool.depth == 0 and not hopeless._claim_retries
