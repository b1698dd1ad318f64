from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edgecascade.gateway.breaker import BreakerState, CircuitBreaker
from edgecascade.gateway.pacing import BudgetMeter, publish_window
from edgecascade.gateway.packing import ITEMS_BUDGET, cost_per_item, pack
from edgecascade.protocol import CloudItem, CloudRequest, Frame, encode
from edgecascade.protocol.limits import MAX_PAYLOAD_BYTES
from edgecascade.protocol.ratelimit import DELIVERY_GUARD_S


def test_breaker_opens_after_repeated_timeouts_and_half_opens_to_probe():
    b = CircuitBreaker(failure_threshold=3, reset_s=5)
    assert b.allow(0)
    b.on_failure(1)
    b.on_failure(2)
    assert b.state(2) is BreakerState.CLOSED
    b.on_failure(3)
    assert b.state(3) is BreakerState.OPEN and not b.allow(4)
    assert b.state(8) is BreakerState.HALF_OPEN
    assert b.allow(8) and not b.allow(8.1)  # exactly one probe
    b.on_failure(9)  # probe failed: open again for reset_s
    assert b.state(9) is BreakerState.OPEN and b.state(13.9) is BreakerState.OPEN
    assert b.allow(14)
    b.on_success(14.5)
    assert b.state(14.5) is BreakerState.CLOSED and b.allow(14.6)


def test_breaker_lost_link_opens_at_once_and_stays_open_while_down():
    b = CircuitBreaker(failure_threshold=3, reset_s=1)
    b.on_link_down(0)
    assert b.state(100) is BreakerState.OPEN
    b.on_link_up(101)
    assert b.state(101) is BreakerState.HALF_OPEN


def test_success_resets_the_failure_count():
    b = CircuitBreaker(failure_threshold=2, reset_s=1)
    b.on_failure(0)
    b.on_success(0)
    b.on_failure(0)
    assert b.state(0) is BreakerState.CLOSED


def test_publish_window_never_exceeds_the_quota_in_any_second():
    w = publish_window(100)
    sent: list[float] = []
    t = 0.0
    while t < 3.0:
        if w.peek(t) == 0:
            w.take(t)
            sent.append(t)
        t += 0.0005
    assert len(sent) >= 290  # the quota is used, not wasted
    for i, start in enumerate(sent):  # no window of one second holds more than 100
        assert sum(1 for x in sent[i:] if x < start + 1.0) <= 100


def test_publish_window_handles_slow_rates():
    w = publish_window(0.5)  # one per 2 s, plus the delivery guard
    assert w.take(0.0) == 0.0
    assert w.peek(2.0) > 0
    assert w.peek(2.0 + DELIVERY_GUARD_S) == 0.0


def test_budget_meter_rolls_over():
    m = BudgetMeter(window_s=10)
    m.add(0, 5)
    m.add(5, 3)
    assert m.spent(6) == 8
    assert m.spent(10.5) == 3
    assert m.total == 8


@given(st.lists(st.integers(1, 70_000), max_size=60), st.integers(1, 40))
def test_pack_keeps_order_and_limits(sizes, max_items):
    groups = pack(sizes, max_items)
    flat = [i for g in groups for i in g]
    assert flat == [i for i, s in enumerate(sizes) if s <= ITEMS_BUDGET]
    for g in groups:
        assert len(g) <= max_items
        assert sum(sizes[i] for i in g) <= ITEMS_BUDGET


def test_packed_request_really_fits_the_payload_limit():
    item = CloudItem(device_id="d" * 64, epoch=2**32 - 1, seq=2**32 - 1,
                     frame=Frame(data=bytes(28 * 28 * 3), shape=(28, 28, 3)))
    size = len(encode(item))
    n = len(pack([size] * 200, 256)[0])
    req = CloudRequest(correlation_id="c" * 64, gateway_id="g" * 64, ts_ms=2**63,
                       deadline_ms=2**32 - 1, items=(item,) * n)
    assert len(encode(req)) <= MAX_PAYLOAD_BYTES


def test_cost_per_item_shares_billed_messages():
    assert cost_per_item(1000, 500, 1) == 2
    assert cost_per_item(30 * 1024, 1000, 10) == (6 + 1) / 10
