"""The escalation policy is pure: every rule checked without a broker."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from edgecascade.gateway.breaker import BreakerState
from edgecascade.gateway.config import Thresholds
from edgecascade.gateway.policy import Action, Snapshot, decide, decide_after_edge
from edgecascade.protocol import Frame, Reason, Report, confidence_to_wire

T = Thresholds(device_confidence=0.9, device_margin=0.2, complexity_limit=0.5,
               edge_confidence=0.8, edge_margin=0.0)
FRAME = Frame(data=bytes(784), shape=(28, 28))


def rep(conf: float = 0.5, second: float = 0.1, *, frame: bool = True, private: bool = False,
        complexity: float | None = None, deadline_ms: int | None = None,
        priority: int | None = None) -> Report:
    return Report(device_id="d", epoch=1, seq=1, ts_ms=0, model_id="m", model_version=1,
                  classes=(1, 2), confidences=(confidence_to_wire(conf),
                                               confidence_to_wire(min(second, conf))),
                  frame=FRAME if frame else None, complexity=complexity,
                  deadline_ms=deadline_ms, priority=priority, private=private)


SNAP = Snapshot(thresholds=T, edge_queue_capacity=8)


def test_confident_device_answer_is_accepted():
    d = decide(rep(0.95, 0.01), SNAP)
    assert (d.action, d.reason) == (Action.ACCEPT_DEVICE, Reason.CONFIDENT)


def test_each_escalation_reason():
    assert decide(rep(0.5), SNAP).reason is Reason.LOW_CONFIDENCE
    assert decide(rep(0.95, 0.9), SNAP).reason is Reason.SMALL_MARGIN
    assert decide(rep(0.95, 0.01, complexity=0.9), SNAP).reason is Reason.COMPLEX_INPUT


def test_unsure_without_frame_keeps_the_device_answer():
    d = decide(rep(0.5, frame=False), SNAP)
    assert (d.action, d.reason, d.escalation) == (Action.ACCEPT_DEVICE, Reason.NO_FRAME,
                                                  Reason.LOW_CONFIDENCE)


def test_unsure_with_frame_goes_to_the_edge_then_cache_first():
    assert decide(rep(), SNAP).action is Action.EDGE
    assert decide(rep(), replace(SNAP, cached=True)).action is Action.CACHE


def test_full_edge_queue_goes_to_the_cloud_or_answers_degraded():
    full = replace(SNAP, edge_queue_depth=8)
    d = decide(rep(), full)
    assert (d.action, d.reason) == (Action.CLOUD, Reason.EDGE_BUSY)
    d = decide(rep(), replace(full, breaker=BreakerState.OPEN))
    assert (d.action, d.reason, d.spool) == (Action.LOCAL, Reason.CLOUD_DOWN, True)


def test_after_edge():
    assert decide_after_edge(rep(), 0.9, 0.5, SNAP).action is Action.ACCEPT_EDGE
    d = decide_after_edge(rep(), 0.5, 0.1, SNAP)
    assert (d.action, d.reason, d.escalation) == (Action.CLOUD, Reason.EDGE_UNSURE,
                                                  Reason.LOW_CONFIDENCE)
    d = decide_after_edge(rep(), 0.5, 0.1, replace(SNAP, breaker=BreakerState.HALF_OPEN))
    assert (d.action, d.reason, d.spool) == (Action.LOCAL, Reason.CLOUD_DOWN, True)


def test_deadline_too_short_for_the_cloud_stays_local():
    snap = replace(SNAP, cloud_latency_ms=300, elapsed_ms=10)
    d = decide_after_edge(rep(deadline_ms=200), 0.5, 0.1, snap)
    assert (d.action, d.reason, d.spool) == (Action.LOCAL, Reason.DEADLINE, False)
    assert decide_after_edge(rep(deadline_ms=2000), 0.5, 0.1, snap).action is Action.CLOUD


def test_budget_reserve_is_kept_for_priority_frames():
    snap = replace(SNAP, spent=93, budget=100, cost_estimate=2)
    assert decide_after_edge(rep(), 0.1, 0.0, snap).reason is Reason.BUDGET
    assert decide_after_edge(rep(priority=2), 0.1, 0.0, snap).action is Action.CLOUD


snapshots = st.builds(
    Snapshot,
    thresholds=st.just(T),
    edge_available=st.booleans(),
    edge_queue_depth=st.integers(0, 10),
    edge_queue_capacity=st.integers(1, 10),
    breaker=st.sampled_from(list(BreakerState)),
    cloud_enabled=st.booleans(),
    spent=st.floats(0, 200),
    budget=st.floats(0, 200),
    cost_estimate=st.floats(0, 5),
    elapsed_ms=st.floats(0, 5000),
    cached=st.booleans(),
)
reports = st.builds(
    rep,
    conf=st.floats(0, 1), second=st.floats(0, 1), frame=st.booleans(), private=st.booleans(),
    complexity=st.none() | st.floats(0, 2), deadline_ms=st.none() | st.integers(0, 5000),
    priority=st.none() | st.integers(0, 3),
)


@given(reports, snapshots, st.floats(0, 1), st.floats(0, 1))
def test_private_frames_never_go_to_the_cloud_nor_the_spool(report, snap, conf, margin):
    report = replace(report, private=True)
    for d in (decide(report, snap), decide_after_edge(report, conf, margin, snap)):
        assert d.action is not Action.CLOUD
        assert not d.spool


@given(reports, snapshots, st.floats(0, 1), st.floats(0, 1))
def test_cloud_only_within_budget_and_with_a_closed_breaker(report, snap, conf, margin):
    for d in (decide(report, snap), decide_after_edge(report, conf, margin, snap)):
        if d.action is Action.CLOUD:
            assert snap.spent + snap.cost_estimate <= snap.budget
            assert snap.breaker is BreakerState.CLOSED and snap.cloud_enabled
            assert report.frame is not None


@given(reports, snapshots)
def test_every_decision_has_a_reason_and_confident_is_never_escalated(report, snap):
    d = decide(report, snap)
    assert isinstance(d.reason, Reason)
    if d.reason is Reason.CONFIDENT:
        assert d.action is Action.ACCEPT_DEVICE and d.escalation is None
