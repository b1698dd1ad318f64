"""The worker end to end: real mosquitto, the real cloud model, real sockets."""

from __future__ import annotations

import threading
import time
import urllib.request

import numpy as np
import pytest

from edgecascade.cloud.model import load_classifier
from edgecascade.protocol import (
    CloudItem,
    CloudRequest,
    CloudResponse,
    Frame,
    ServiceState,
    TopicKind,
    billed_messages,
    decode,
    encode,
)
from tests.cloud.helpers import CLOUD_MODEL, make_request, sample_images


def test_answers_every_frame_in_order_with_the_cloud_model(broker, topics, worker_factory,
                                                          requester_factory):
    images, labels = sample_images(40)
    worker = worker_factory(broker, topics)
    req = requester_factory(broker.host, broker.port, topics)
    requests = [make_request("gw1", images[i : i + 10], first_seq=i) for i in range(0, 40, 10)]
    for r in requests:
        req.send(r)
    got = req.wait([r.correlation_id for r in requests])

    expected = load_classifier(str(CLOUD_MODEL)).predict(images)
    for r in requests:
        resp = got[r.correlation_id]
        assert resp.status == "ok"
        assert resp.worker_id == "wk1"
        assert resp.model_id == "mnist-cloud" and resp.model_version >= 1
        assert [a.key for a in resp.items] == [i.key for i in r.items]
        for answer in resp.items:
            row = expected[answer.seq]
            assert answer.label == int(np.argmax(row))
            assert abs(answer.confidence - float(row.max())) < 1e-6
    accuracy = np.mean([a.label == labels[a.seq] for r in requests
                        for a in got[r.correlation_id].items])
    assert accuracy >= 0.9
    m = worker.metrics
    assert m.value("ec_cloud_frames_total", outcome="answered") == 40
    assert m.value("ec_cloud_requests_total", outcome="ok") == 4
    billed_in = sum(billed_messages(len(encode(r))) for r in requests)
    assert billed_in == 8  # 10 frames of 784 bytes: 2 units of 5 KB each
    assert m.value("ec_cloud_billed_messages_total", direction="in") == billed_in
    # 4 small responses + the retained birth state: AWS bills every publish
    assert m.value("ec_cloud_billed_messages_total", direction="out") == 5


def test_bad_frames_get_error_answers_and_good_ones_still_answered(broker, topics,
                                                                   worker_factory,
                                                                   requester_factory):
    images, _ = sample_images(2)
    worker = worker_factory(broker, topics)
    req = requester_factory(broker.host, broker.port, topics)
    good = CloudItem("dev1", 1, 0, frame=Frame(images[0].tobytes(), (28, 28)))
    wrong_shape = CloudItem("dev1", 1, 1, frame=Frame(bytes(100), (10, 10)))
    bad_quant = CloudItem("dev1", 1, 2, frame=Frame(bytes([100]) * 784, (28, 28), "int8", 1.0, 0))
    no_store = CloudItem("dev1", 1, 3, frame_ref="s3://bucket/frames/x")
    request = CloudRequest("c-bad", "gw1", 1, 1000, (good, wrong_shape, bad_quant, no_store))
    req.send(request)
    resp = req.wait(["c-bad"])["c-bad"]
    assert resp.status == "ok"
    a = {x.seq: x for x in resp.items}
    assert a[0].error is None and a[0].label is not None
    assert a[1].error and "bad frame" in a[1].error
    assert a[2].error and "bad frame" in a[2].error
    assert a[3].error and "claim-check" in a[3].error
    assert worker.metrics.value("ec_cloud_frames_total", outcome="error") == 3


def test_undecodable_request_is_counted_and_the_worker_keeps_going(broker, topics,
                                                                   worker_factory,
                                                                   requester_factory):
    images, _ = sample_images(1)
    worker = worker_factory(broker, topics)
    req = requester_factory(broker.host, broker.port, topics)
    req.send_raw(topics.cloud_request("gw1"), b"\x93garbage")
    req.send_raw(topics.cloud_request("gw1"), encode(ServiceState("x", True, 1)))
    ok = make_request("gw1", images)
    req.send(ok)
    req.wait([ok.correlation_id])
    assert worker.metrics.value("ec_cloud_requests_total", outcome="rejected") == 2
    assert worker.metrics.value("ec_cloud_errors_total", reason="cloud_request:*") >= 1
    assert list(req.responses) == [ok.correlation_id]  # nobody to answer the garbage


def test_request_naming_another_gateway_gets_an_error_on_its_topic(broker, topics,
                                                                   worker_factory,
                                                                   requester_factory):
    images, _ = sample_images(1)
    worker_factory(broker, topics)
    req = requester_factory(broker.host, broker.port, topics)
    spoofed = make_request("gw2", images, cid="spoof")
    req.send(spoofed, topic_gateway="gw1")
    resp = req.wait(["spoof"])["spoof"]
    assert resp.status == "error" and "gw2" in (resp.error or "")


def test_redelivered_request_gets_byte_identical_answer(broker, topics, worker_factory,
                                                        requester_factory):
    images, _ = sample_images(5)
    worker = worker_factory(broker, topics)
    req = requester_factory(broker.host, broker.port, topics)
    request = make_request("gw1", images, cid="dup-1")
    for _ in range(3):
        req.send(request)
    req.wait(["dup-1"], count=3)
    first, *rest = req.responses["dup-1"]
    assert all(r == first for r in rest)
    assert worker.metrics.value("ec_cloud_requests_total", outcome="duplicate") == 2
    assert worker.metrics.value("ec_cloud_frames_total", outcome="answered") == 5


def test_another_worker_recomputes_the_same_answer(broker, topics, worker_factory,
                                                   requester_factory):
    """Across workers only worker_id, worker_ms and ts_ms may differ (documented)."""
    images, _ = sample_images(8)
    req = requester_factory(broker.host, broker.port, topics)
    request = make_request("gw1", images, cid="same")
    w1 = worker_factory(broker, topics, worker_id="wkA", shared_group="")
    req.send(request)
    a = req.wait(["same"])["same"]
    w1.stop(10)
    worker_factory(broker, topics, worker_id="wkB", shared_group="")
    req.send(request)
    req.wait(["same"], count=2)
    b = decode(type(a), req.responses["same"][1])
    assert (a.worker_id, b.worker_id) == ("wkA", "wkB")
    assert a.items == b.items and a.status == b.status and a.model_id == b.model_id


def test_plain_subscription_mode_for_brokers_without_shared_subscriptions(
        broker, topics, worker_factory, requester_factory):
    images, _ = sample_images(3)
    worker = worker_factory(broker, topics, shared_group="")
    assert worker.filter == topics.filter(TopicKind.CLOUD_REQUEST)  # no $share/ prefix
    req = requester_factory(broker.host, broker.port, topics)
    r = make_request("gw1", images)
    req.send(r)
    assert req.wait([r.correlation_id])[r.correlation_id].status == "ok"


def test_birth_and_graceful_death_are_retained(broker, topics, worker_factory,
                                               requester_factory):
    worker = worker_factory(broker, topics)
    req = requester_factory(broker.host, broker.port, topics)
    state_topic = topics.worker_state("wk1")

    def states() -> list[ServiceState]:
        return [decode(ServiceState, p) for t, p in req.others if t == state_topic]

    req.wait_for(lambda: any(s.online for s in states()))
    worker.stop(10)
    req.wait_for(lambda: not states()[-1].online)
    late = requester_factory(broker.host, broker.port, topics)  # retained for newcomers
    late.wait_for(lambda: any(t == state_topic for t, _ in late.others))
    assert decode(ServiceState, late.others[-1][1]).online is False


class GatedClassifier:
    """A seam of ours: the real classifier, but predict waits until the gate opens."""

    def __init__(self, inner):
        self.inner = inner
        self.gate = threading.Event()
        self.model_id, self.model_version = inner.model_id, inner.model_version

    def to_pixels(self, frame):
        return self.inner.to_pixels(frame)

    def predict(self, pixels):
        assert self.gate.wait(60), "gate never opened"
        return self.inner.predict(pixels)


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_graceful_stop_finishes_in_hand_work(broker, topics, worker_factory, requester_factory,
                                             classifier):
    images, _ = sample_images(64)
    gated = GatedClassifier(classifier)
    worker = worker_factory(broker, topics, classifier=gated)
    req = requester_factory(broker.host, broker.port, topics)
    requests = [make_request("gw1", images[i : i + 8]) for i in range(0, 64, 8)]
    for r in requests:
        req.send(r)
    wait_until(lambda: worker.in_hand == len(requests))
    result: dict[str, bool] = {}
    stopper = threading.Thread(target=lambda: result.setdefault("drained", worker.stop(60)))
    stopper.start()
    wait_until(lambda: worker._unsubscribed.is_set())
    late = make_request("gw1", images[:1], cid="late")
    req.send(late)  # after the unsubscribe: not this worker's any more
    assert not req.responses, "nothing may be answered before the gate opens"
    gated.gate.set()
    stopper.join(60)
    assert result == {"drained": True}
    answered = set(req.wait([r.correlation_id for r in requests], timeout=10))
    assert answered == {r.correlation_id for r in requests}
    assert "late" not in req.responses
    assert worker.metrics.value("ec_cloud_in_hand") == 0
    assert worker.metrics.value("ec_cloud_connected") == 0


def test_metrics_are_served_over_http(broker, topics, worker_factory, requester_factory):
    from edgecascade.tools.broker import free_port

    port = free_port()
    worker_factory(broker, topics, http={"enabled": True, "port": port})
    images, _ = sample_images(2)
    req = requester_factory(broker.host, broker.port, topics)
    r = make_request("gw1", images)
    req.send(r)
    req.wait([r.correlation_id])
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'ec_cloud_frames_total{outcome="answered"} 2.0' in body
    assert "ec_cloud_batch_frames_bucket" in body
    assert 'ec_cloud_billed_messages_total{direction="out"}' in body


def test_worker_on_amqtt_with_a_plain_subscription(topics, worker_factory, requester_factory):
    """The demo's embedded broker: MQTT 3.1.1 only, no $share; shared_group = ""."""
    pytest.importorskip("amqtt")
    from edgecascade.tools.embedded_broker import EmbeddedBroker

    broker = EmbeddedBroker()
    broker.start()
    try:
        images, _ = sample_images(3)
        worker = worker_factory(broker, topics, shared_group="")
        req = requester_factory(broker.host, broker.port, topics)
        request = make_request("gw1", images, cid="amqtt")
        req.send(request)
        req.send(request)  # redelivered: same bytes again
        req.wait(["amqtt"], count=2)
        first, second = req.responses["amqtt"][:2]
        assert first == second and decode(CloudResponse, first).status == "ok"
        worker.stop(10)
    finally:
        broker.stop()


def test_worker_speaks_mqtt5_too(broker, topics, worker_factory, requester_factory):
    images, _ = sample_images(2)
    worker = worker_factory(broker, topics, broker={"mqtt5": True})
    assert worker.settings.mqtt5
    req = requester_factory(broker.host, broker.port, topics)
    r = make_request("gw1", images)
    req.send(r)
    req.send(r)
    req.wait([r.correlation_id], count=2)
    first, second = req.responses[r.correlation_id][:2]
    assert first == second and decode(CloudResponse, first).status == "ok"
