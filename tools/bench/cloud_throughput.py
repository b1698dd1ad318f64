"""Cloud worker throughput: frames packed in requests and micro-batched, vs one at a time.

    python -m edgecascade.tools.bench.cloud_throughput [--quick]

Same model (models/mnist-cloud.tflite), same broker, same worker code, one run:

* value: requests of 32 frames (the gateway's default packing), ``max_batch`` 64;
* baseline: one frame per request, ``max_batch`` 1 (one frame at a time);
* a second row isolates cross-request micro-batching: one frame per request,
  ``max_batch`` 64 vs 1.

Throughput = frames answered per second for a burst (publish all, wait for all
responses), median of several runs. The worker's publish limiter is lifted for these
rows so that they measure the worker, not AWS's quota. A third row keeps the limiter
on, as deployed against AWS IoT Core, where one response per frame caps a worker
connection at 100 frames/s. A fourth times the model alone at batch 64 vs 1, which
bounds what batching can give on this model: mnist-cloud is compute-bound under
XNNPACK (its per-invoke overhead is small), so on this CPU the gain comes from fewer
messages per frame, not from the model.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from typing import Any

from edgecascade.protocol import Topics, encode
from edgecascade.tools.bench import cloud_harness as h
from edgecascade.tools.bench.common import Row, print_rows

COMMAND = "python -m edgecascade.tools.bench.cloud_throughput"


def burst_fps(b: h.MosquittoBroker, frames: int, per_request: int, max_batch: int,
              repeats: int, aws_quota: bool = False,
              runtime: dict[str, Any] | None = None) -> float:
    topics = Topics(f"b{uuid.uuid4().hex[:8]}/v1")
    pixels = h.images(frames)
    samples = []
    # The worker's AWS publish limiter (100/s) would cap one-frame replies at 100 frames/s;
    # loopback mosquitto has no such quota and this measures the worker, so lift it.
    with h.worker(b, topics, max_batch=max_batch, max_delay_ms=5.0, runtime=runtime) as w:
        if not aws_quota:
            w.limiter = type(w.limiter)(1_000_000)
        client = h.Client(b.host, b.port, topics.cloud_response(h.GATEWAY))
        try:
            warm = h.requests(pixels[:per_request], per_request)
            client.publish(topics.cloud_request(h.GATEWAY), encode(warm[0]))
            client.wait([warm[0].correlation_id])
            for _ in range(repeats):
                reqs = h.requests(pixels, per_request)
                payloads = [encode(r) for r in reqs]
                start = time.perf_counter()
                for p in payloads:
                    client.publish(topics.cloud_request(h.GATEWAY), p)
                client.wait([r.correlation_id for r in reqs])
                samples.append(frames / (time.perf_counter() - start))
        finally:
            client.close()
    return statistics.median(samples)


def model_us_per_frame(batch: int, frames: int, repeats: int) -> float:
    """The model alone: median microseconds per frame at this batch size."""
    from edgecascade.cloud.model import load_classifier

    c = load_classifier(str(h.CLOUD_MODEL))
    pixels = h.images(frames)
    c.predict(pixels[:batch])
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, frames, batch):
            c.predict(pixels[i : i + batch])
        samples.append((time.perf_counter() - start) / frames * 1e6)
    return statistics.median(samples)


def run(quick: bool = False) -> list[Row]:
    frames, repeats = (256, 3) if quick else (1024, 5)
    m64 = model_us_per_frame(64, frames, repeats)
    m1 = model_us_per_frame(1, frames, repeats)
    with h.broker() as b:
        single = burst_fps(b, frames, per_request=1, max_batch=1, repeats=repeats)
        packed = burst_fps(b, frames, per_request=32, max_batch=64, repeats=repeats)
        micro = burst_fps(b, frames, per_request=1, max_batch=64, repeats=repeats)
        q_frames = 300
        q_single = burst_fps(b, q_frames, per_request=1, max_batch=1, repeats=repeats,
                             aws_quota=True)
        q_packed = burst_fps(b, q_frames, per_request=32, max_batch=64, repeats=repeats,
                             aws_quota=True)
    ceiling = 1e6 / min(m1, m64)  # the model alone at its best batch, one core
    return [
        Row("cloud worker throughput: 32-frame requests + micro-batching vs the model alone's "
            "ceiling (its best batch, in process: no MQTT, no codec)", packed, ceiling,
            "frames/s", COMMAND, "ratio >= 0.9"),
        Row("cloud worker throughput: 32-frame requests + micro-batching vs one frame at a time",
            packed, single, "frames/s", COMMAND, ""),
        Row("cloud worker throughput: 1-frame requests, micro-batch 64 vs 1 (cross-request)",
            micro, single, "frames/s", COMMAND, ""),
        Row("cloud worker throughput under the AWS quota (limiter on: 100 publishes/s): "
            "32-frame requests vs one frame at a time", q_packed, q_single, "frames/s",
            COMMAND, ""),
        Row("cloud model alone: time per frame at batch 64 vs batch 1 (why batching helps "
            "little: the model is compute-bound)", m64, m1, "us/frame", COMMAND, ""),
    ]


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
