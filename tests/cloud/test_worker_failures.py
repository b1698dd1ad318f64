"""Failure paths of the worker: model errors, overload, transient claim-check errors, pacing."""

from __future__ import annotations

import threading

from edgecascade.protocol import CloudItem, CloudRequest, decode
from edgecascade.protocol.claimcheck import ClaimCheckError
from tests.cloud.helpers import frame_of, make_request, sample_images
from tests.cloud.test_worker import GatedClassifier, wait_until


class BrokenClassifier:
    """A seam of ours: the real classifier whose predict fails for frames of one image."""

    def __init__(self, inner, poison: bytes):
        self.inner = inner
        self.poison = poison
        self.model_id, self.model_version = inner.model_id, inner.model_version

    def to_pixels(self, frame):
        return self.inner.to_pixels(frame)

    def predict(self, pixels):
        if any(p.tobytes() == self.poison for p in pixels):
            raise RuntimeError("tensor arena exhausted")
        return self.inner.predict(pixels)


def test_model_failure_is_an_error_response_and_does_not_poison_the_batch(
        broker, topics, worker_factory, requester_factory, classifier):
    images, _ = sample_images(4)
    poison = classifier.to_pixels(frame_of(images[0])).tobytes()  # the model input, any dtype
    worker = worker_factory(broker, topics, classifier=BrokenClassifier(classifier, poison))
    req = requester_factory(broker.host, broker.port, topics)
    bad = make_request("gw1", images[:2], cid="bad")
    good = make_request("gw1", images[2:], cid="good")
    req.send(bad)
    req.send(good)
    got = req.wait(["bad", "good"])
    assert got["bad"].status == "error" and "tensor arena" in (got["bad"].error or "")
    assert got["bad"].items == ()
    assert got["good"].status == "ok" and all(a.label is not None for a in got["good"].items)
    assert worker.metrics.value("ec_cloud_errors_total", reason="model:error") == 1
    # a failed answer is not cached: a redelivery is tried again (and fails again here)
    req.send(bad)
    req.wait(["bad"], count=2)
    assert worker.metrics.value("ec_cloud_errors_total", reason="model:error") == 2


def test_overload_is_answered_not_dropped(broker, topics, worker_factory, requester_factory,
                                          classifier):
    images, _ = sample_images(1)
    gated = GatedClassifier(classifier)
    worker = worker_factory(broker, topics, classifier=gated, limits={"max_in_hand": 1})
    req = requester_factory(broker.host, broker.port, topics)
    first = make_request("gw1", images, cid="first")
    req.send(first)
    wait_until(lambda: worker.in_hand == 1)
    for i in range(3):
        req.send(make_request("gw1", images, cid=f"more{i}"))
    more = req.wait([f"more{i}" for i in range(3)])
    assert all(r.status == "error" and r.error == "worker overloaded" for r in more.values())
    gated.gate.set()
    assert req.wait(["first"])["first"].status == "ok"
    assert worker.metrics.value("ec_cloud_errors_total", reason="worker:overloaded") == 3


class FlakyStore:
    """A seam of ours: frames by ref, unreachable for the first ``failures`` gets."""

    def __init__(self, frames: dict, failures: int):
        self.frames = frames
        self.failures = failures
        self.lock = threading.Lock()

    def get_frame(self, ref):
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                raise ClaimCheckError(ref, "get failed: EndpointConnectionError", transient=True)
        return self.frames[ref]


def test_transient_claim_check_failure_is_reported_then_retried_on_redelivery(
        broker, topics, worker_factory, requester_factory):
    images, _ = sample_images(1)
    ref = "s3://b/frames/gw1/dev1/1/0"
    worker = worker_factory(broker, topics, store=FlakyStore({ref: frame_of(images[0])}, 1))
    req = requester_factory(broker.host, broker.port, topics)
    request = CloudRequest("flaky", "gw1", 1, 1000, (CloudItem("dev1", 1, 0, frame_ref=ref),))
    req.send(request)
    first = req.wait(["flaky"])["flaky"]
    assert first.status == "ok" and "EndpointConnectionError" in (first.items[0].error or "")
    req.send(request)  # the gateway retries: not served from the cache, fetched again
    req.wait(["flaky"], count=2)
    second = decode(type(first), req.responses["flaky"][1])
    assert second.items[0].error is None and second.items[0].label is not None
    assert worker.metrics.value("ec_cloud_errors_total", reason="claimcheck:transient") == 1


def test_publishes_are_paced_by_the_limiter(broker, topics, worker_factory, requester_factory):
    images, _ = sample_images(1)
    worker = worker_factory(broker, topics, limits={"publish_per_second": 5})
    req = requester_factory(broker.host, broker.port, topics)
    reqs = [make_request("gw1", images) for _ in range(8)]
    for r in reqs:
        req.send(r)
    req.wait([r.correlation_id for r in reqs])
    # birth + 8 responses through a 5-per-second window: the limiter had to hold some back
    assert worker.limiter.waits >= 1
    assert worker.metrics.value("ec_cloud_rate_limited_seconds_total") > 0


class NaNClassifier(BrokenClassifier):
    """A seam of ours: a model that returns NaN probabilities."""

    def predict(self, pixels):
        out = self.inner.predict(pixels)
        out[:] = float("nan")
        return out


def test_unusable_model_output_is_an_error_response(broker, topics, worker_factory,
                                                   requester_factory, classifier):
    images, _ = sample_images(2)
    worker = worker_factory(broker, topics, classifier=NaNClassifier(classifier, b""))
    req = requester_factory(broker.host, broker.port, topics)
    req.send(make_request("gw1", images, cid="nan"))
    resp = req.wait(["nan"])["nan"]
    assert resp.status == "error" and "model output unusable" in (resp.error or "")
    assert worker.metrics.value("ec_cloud_errors_total", reason="model:output") == 1
    assert worker.in_hand == 0
