"""The worker's publish quota as a subscriber on a real mosquitto counts it, under overload.

A count, not a timing assertion: every response and state message the worker publishes is
stamped on arrival at a separate subscriber, and no one-second window of arrivals may hold
more than the quota. The pure guard is checked against adversarial delivery jitter too.
"""

from __future__ import annotations

from edgecascade.cloud.ratelimit import RateLimiter
from edgecascade.protocol import TopicKind
from edgecascade.protocol.ratelimit import DELIVERY_GUARD_S, quota_window
from edgecascade.tools.bench.cloud_harness import Arrivals
from edgecascade.tools.bench.common import over_quota
from tests.cloud.helpers import make_request, sample_images

QUOTA = 20


def test_no_window_seen_by_a_subscriber_exceeds_the_quota(broker, topics, worker_factory,
                                                          requester_factory):
    counter = Arrivals(broker.host, broker.port,
                       [topics.cloud_response("gw1"), topics.filter(TopicKind.WORKER_STATE)])
    try:
        worker = worker_factory(broker, topics, limits={"publish_per_second": QUOTA},
                                model={"max_batch": 1})
        req = requester_factory(broker.host, broker.port, topics)
        images, _ = sample_images(1)
        reqs = [make_request("gw1", images) for _ in range(4 * QUOTA)]  # 4 s of quota at once
        for r in reqs:
            req.send(r)
        req.wait([r.correlation_id for r in reqs], timeout=60)
        assert counter.wait(len(reqs) + 1, 10)  # the birth state + one response each
        most, over = over_quota(counter.stamps, QUOTA)
        assert worker.limiter.waits > 0  # overloaded: the limiter held publishes back
        assert over == 0, f"{over} one-second windows over {QUOTA} (most: {most})"
    finally:
        counter.close()


def _deliveries(guard: float) -> list[float]:
    """Publish calls through the window, 300 of them as fast as it allows, each delivered
    with the worst jitter the guard allows: every other burst late, the next one not."""
    w = quota_window(100, guard=guard)
    calls: list[float] = []
    t = 0.0
    while len(calls) < 300:
        wait = w.take(t)
        if wait == 0.0:
            calls.append(t)
        else:
            t += wait
    late = DELIVERY_GUARD_S * 0.99
    return [c + (late if (i // 100) % 2 == 0 else 0.0) for i, c in enumerate(calls)]


def test_the_guard_absorbs_delivery_jitter_up_to_its_size():
    assert over_quota(_deliveries(DELIVERY_GUARD_S), 100)[1] == 0
    assert over_quota(_deliveries(0.0), 100)[0] > 100  # without it the receiver sees more


def test_limiter_spreads_the_quota_over_the_guarded_window():
    now = [0.0]
    lim = RateLimiter(100, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    stamps = []
    for _ in range(300):
        lim.acquire()
        stamps.append(now[0])
    assert stamps[100] - stamps[0] >= 1.0 + DELIVERY_GUARD_S - 1e-9
