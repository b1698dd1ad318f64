"""Round trip gateway -> worker -> gateway, p95, vs a bare broker round trip plus model time.

    python -m edgecascade.tools.bench.cloud_roundtrip [--quick]

One run, one loopback mosquitto, one 8-frame request at a time (sequential, no
queueing), median over repeats of the p95 over N requests:

* value: p95 of publish request -> worker (decode, batcher, model, encode,
  rate limiter, ack) -> response received;
* baseline: p95 of the same request bytes echoed back by a bare paho client on the
  same broker, plus the median model time for 8 frames measured in this run.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid

from edgecascade.protocol import Topics, encode
from edgecascade.tools.bench import cloud_harness as h
from edgecascade.tools.bench.common import Row, percentile, print_rows

COMMAND = "python -m edgecascade.tools.bench.cloud_roundtrip"
FRAMES = 8


def p95_roundtrip(client: h.Client, topic: str, reqs: list) -> float:
    times = []
    for r in reqs:
        payload = encode(r)
        start = time.perf_counter()
        client.publish(topic, payload)
        client.wait([r.correlation_id], timeout=30)
        times.append(client.received[r.correlation_id] - start)
    return percentile(times, 95)


def run(quick: bool = False) -> list[Row]:
    n, repeats = (100, 3) if quick else (300, 5)
    pixels = h.images(FRAMES)
    from edgecascade.cloud.model import load_classifier

    model = load_classifier(str(h.CLOUD_MODEL))
    model.predict(pixels)
    model_times = []
    for _ in range(max(50, n // 2)):
        start = time.perf_counter()
        model.predict(pixels)
        model_times.append(time.perf_counter() - start)
    model_s = statistics.median(model_times)

    worker_p95, bare_p95 = [], []
    with h.broker() as b:
        topics = Topics(f"b{uuid.uuid4().hex[:8]}/v1")
        with h.worker(b, topics, max_batch=64, max_delay_ms=0.0):
            client = h.Client(b.host, b.port, topics.cloud_response(h.GATEWAY))
            try:
                p95_roundtrip(client, topics.cloud_request(h.GATEWAY),
                              [h.requests(pixels, FRAMES)[0] for _ in range(10)])  # warm-up
                for _ in range(repeats):
                    reqs = [h.requests(pixels, FRAMES)[0] for _ in range(n)]
                    worker_p95.append(p95_roundtrip(client, topics.cloud_request(h.GATEWAY),
                                                    reqs))
            finally:
                client.close()
        bare_topics = Topics(f"b{uuid.uuid4().hex[:8]}/v1")
        echo = h.Echo(b.host, b.port, bare_topics)
        client = h.Client(b.host, b.port, bare_topics.cloud_response(h.GATEWAY), raw=True)
        try:
            for _ in range(repeats):
                reqs = [h.requests(pixels, FRAMES)[0] for _ in range(n)]
                bare_p95.append(p95_roundtrip(client, bare_topics.cloud_request(h.GATEWAY),
                                              reqs))
        finally:
            client.close()
            echo.close()
    value = statistics.median(worker_p95) * 1e3
    bare = statistics.median(bare_p95) * 1e3
    return [
        Row(f"cloud round trip p95 ({FRAMES} frames) vs bare broker echo p95 + model time",
            value, bare + model_s * 1e3, "ms", COMMAND, "<= 3"),
        Row("bare broker echo round trip p95 (for reference) vs model time", bare,
            model_s * 1e3, "ms", COMMAND, ""),
    ]


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
