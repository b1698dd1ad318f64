"""Cloud pacing as a subscriber counts it: publishes per one-second window under overload.

    python -m edgecascade.tools.bench.cloud_pacing [--quick]

A real worker (quota 100 publishes/s, one response per one-frame request) is handed far
more requests than the quota lets it answer; a separate subscriber stamps every response
and state message on arrival. Value: the most arrivals in any one-second window with the
deployed limiter (``quota_window``: 100 per 1 s + ``DELIVERY_GUARD_S``); baseline: the
quota. A second row is the same run with the guard at 0 (the old exact 1 s window over
publish calls), and a third the sustained rate the margin costs.
"""

from __future__ import annotations

import statistics
import sys
import uuid

from edgecascade.cloud.model import load_classifier
from edgecascade.cloud.ratelimit import RateLimiter
from edgecascade.cloud.worker import CloudWorker
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import TopicKind, Topics, encode
from edgecascade.protocol.ratelimit import DELIVERY_GUARD_S
from edgecascade.tools.bench import cloud_harness as h
from edgecascade.tools.bench.common import Row, over_quota, print_rows

COMMAND = "python -m edgecascade.tools.bench.cloud_pacing"
QUOTA = 100


def overload(b: h.MosquittoBroker, n: int, guard: float) -> tuple[int, int, float]:
    """(most arrivals in any 1 s, windows over the quota, sustained arrivals/s)."""
    topics = Topics(f"b{uuid.uuid4().hex[:8]}/v1")
    counter = h.Arrivals(b.host, b.port, [topics.cloud_response(h.GATEWAY),
                                          topics.filter(TopicKind.WORKER_STATE)])
    client = h.Client(b.host, b.port, topics.cloud_response(h.GATEWAY))
    try:
        cfg = h.worker_config(b.url, topics, max_batch=1, max_delay_ms=0.0,
                              publish_per_second=QUOTA)
        w = CloudWorker(cfg, load_classifier(cfg.model.path), BrokerSettings(url=b.url))
        w.limiter = RateLimiter(QUOTA, guard=guard)  # before start: the birth counts too
        w.start()
        try:
            reqs = h.requests(h.images(n), 1)
            for r in reqs:
                client.publish(topics.cloud_request(h.GATEWAY), encode(r))
            client.wait([r.correlation_id for r in reqs], timeout=120)
            counter.wait(n + 1, 10)
        finally:
            w.stop(30)
        stamps = sorted(counter.stamps)
        most, over = over_quota(stamps, QUOTA)
        rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        return most, over, rate
    finally:
        client.close()
        counter.close()


def run(quick: bool = False) -> list[Row]:
    n, runs = (300, 1) if quick else (800, 3)
    guarded, bare = [], []
    with h.broker() as b:
        for _ in range(runs):
            guarded.append(overload(b, n, DELIVERY_GUARD_S))
            bare.append(overload(b, n, 0.0))
    med = statistics.median
    g_most, g_over = med(x[0] for x in guarded), max(x[1] for x in guarded)
    b_most, b_over = med(x[0] for x in bare), max(x[1] for x in bare)
    return [
        Row(f"cloud pacing under overload: most publishes a subscriber saw in any 1 s "
            f"(guard {DELIVERY_GUARD_S:g} s; {g_over} windows over) vs the quota",
            g_most, QUOTA, "publishes", COMMAND, target="ratio <= 1"),
        Row(f"cloud pacing under overload, no guard (exact 1 s window over publish calls; "
            f"{b_over} windows over) vs the quota", b_most, QUOTA, "publishes", COMMAND),
        Row("cloud pacing: sustained publishes/s with the guard vs without (the margin's cost)",
            med(x[2] for x in guarded), med(x[2] for x in bare), "publishes/s", COMMAND,
            target=f"~ 1/(1+{DELIVERY_GUARD_S:g})"),
    ]


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
