"""The escalation policy: a pure function of (report, state snapshot) -> decision + reason.

No I/O and no clocks: everything the policy looks at is in :class:`Snapshot`, so every
rule is testable without a broker. Two entry points follow a frame's life:

* :func:`decide` on arrival: accept the device answer, answer from the cache, run the
  edge model, escalate to the cloud, or answer locally (degraded);
* :func:`decide_after_edge` once the edge model answered: accept it or go on to the cloud.

Privacy is absolute: a private frame is never routed to the cloud (and the cloud client
refuses it again at its own boundary, see :mod:`.cloud_client`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from edgecascade.protocol import Reason, Report, confidence_to_wire
from edgecascade.protocol.fields import to_float32

from .breaker import BreakerState
from .config import Thresholds


class Action(str, Enum):
    ACCEPT_DEVICE = "accept_device"  # publish the device's own answer
    ACCEPT_EDGE = "accept_edge"  # publish the edge model's answer
    CACHE = "cache"  # identical frame already answered: reuse that answer
    EDGE = "edge"  # run the edge model
    CLOUD = "cloud"  # escalate to the cloud, answer when it replies (or degraded at the deadline)
    LOCAL = "local"  # answer now with the best local answer, flagged degraded


@dataclass(frozen=True)
class Snapshot:
    """What the policy may know about the gateway at decision time."""

    thresholds: Thresholds
    edge_available: bool = True
    edge_queue_depth: int = 0
    edge_queue_capacity: int = 1
    breaker: BreakerState = BreakerState.CLOSED
    cloud_enabled: bool = True
    spent: float = 0.0  # billed cloud messages in the current budget window
    budget: float = float("inf")
    cost_estimate: float = 2.0  # billed messages one escalation is expected to cost
    cloud_latency_ms: float = 200.0  # expected round trip to the cloud
    elapsed_ms: float = 0.0  # since the report was received
    cached: bool = False  # the frame's content hash has a confirmed answer
    low_priority_reserve: float = 0.1  # share of the budget kept for priority > 0


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason
    escalation: Reason | None = None  # why the device answer was not enough
    spool: bool = False  # keep the frame for the cloud and publish a correction later


@lru_cache(maxsize=16)
def wire_thresholds(confidence: float, margin: float, limit: float) -> tuple[int, int, float]:
    """The device thresholds as the device holds them: confidence and margin in the
    wire's fixed point (``confidence_to_wire``, once), the complexity limit in float32."""
    return confidence_to_wire(confidence), confidence_to_wire(margin), to_float32(limit)


def device_escalation(report: Report, t: Thresholds) -> Reason | None:
    """Why the device answer is not good enough, or None when it is. Decided the way the
    device decides (firmware/core/ec_policy.c, its twin firmware/emulator/policy.py): the
    integer confidences the wire carries against the thresholds in fixed point, the
    complexity in float32; a frame exactly at a threshold is kept by both, never kept by
    the device and escalated here."""
    conf, margin, limit = wire_thresholds(t.device_confidence, t.device_margin,
                                          t.complexity_limit)
    top1 = report.confidences[0]
    top2 = report.confidences[1] if len(report.confidences) > 1 else 0
    if top1 < conf:
        return Reason.LOW_CONFIDENCE
    if top1 - top2 < margin:
        return Reason.SMALL_MARGIN
    if report.complexity is not None and to_float32(report.complexity) > limit:
        return Reason.COMPLEX_INPUT
    return None


def edge_confident(confidence: float, margin: float, t: Thresholds) -> bool:
    return confidence >= t.edge_confidence and margin >= t.edge_margin


def cloud_block(report: Report, s: Snapshot) -> Reason | None:
    """Why this frame may not go to the cloud now, or None when it may."""
    if report.private:
        return Reason.PRIVACY
    if report.frame is None or not s.cloud_enabled:
        return Reason.CLOUD_DOWN
    allowed = s.budget if (report.priority or 0) > 0 else s.budget * (1 - s.low_priority_reserve)
    if s.spent + s.cost_estimate > allowed:
        return Reason.BUDGET
    if s.breaker is not BreakerState.CLOSED:
        return Reason.CLOUD_DOWN
    if report.deadline_ms is not None and report.deadline_ms - s.elapsed_ms < s.cloud_latency_ms:
        return Reason.DEADLINE
    return None


def _to_cloud(report: Report, s: Snapshot, reason: Reason, escalation: Reason) -> Decision:
    block = cloud_block(report, s)
    if block is None:
        return Decision(Action.CLOUD, reason, escalation)
    # Only a link problem is worth spooling: privacy, budget and deadline stay local.
    spool = block is Reason.CLOUD_DOWN and report.frame is not None and s.cloud_enabled
    return Decision(Action.LOCAL, block, escalation, spool=spool)


def decide(report: Report, s: Snapshot) -> Decision:
    """First decision for a newly received report."""
    escalation = device_escalation(report, s.thresholds)
    if escalation is None:
        return Decision(Action.ACCEPT_DEVICE, Reason.CONFIDENT)
    if report.frame is None:
        return Decision(Action.ACCEPT_DEVICE, Reason.NO_FRAME, escalation)
    if s.cached:
        return Decision(Action.CACHE, Reason.CACHE_HIT, escalation)
    if s.edge_available and s.edge_queue_depth < s.edge_queue_capacity:
        return Decision(Action.EDGE, escalation, escalation)
    busy = Reason.EDGE_BUSY if s.edge_available else escalation
    return _to_cloud(report, s, busy, escalation)


def decide_after_edge(report: Report, confidence: float, margin: float, s: Snapshot,
                      escalation: Reason | None = None) -> Decision:
    """Decision once the edge model answered with ``confidence`` and ``margin``."""
    esc = escalation or device_escalation(report, s.thresholds) or Reason.LOW_CONFIDENCE
    if edge_confident(confidence, margin, s.thresholds):
        return Decision(Action.ACCEPT_EDGE, Reason.EDGE_CONFIDENT, esc)
    return _to_cloud(report, s, Reason.EDGE_UNSURE, esc)
