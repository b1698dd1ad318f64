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
    """Test seam for the S3 claim-check store (cloud/claimcheck.py): a dict."""

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
