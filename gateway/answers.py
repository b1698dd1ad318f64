"""Building results (pure): which local answer to fall back on, and the Result message."""

from __future__ import annotations

from dataclasses import replace

from edgecascade.protocol import Reason, Report, Result, Tier

from .cache import Answer


def device_answer(report: Report, ts_ms: int) -> Answer:
    return Answer(report.top1, report.confidence, Tier.DEVICE.value, report.model_id,
                  report.model_version, ts_ms)


def fallback(device: Answer, edge: Answer | None, last: Answer | None, now_ms: int,
             max_age_ms: int) -> tuple[Answer, bool]:
    """The best local answer when the tier that should answer cannot: (answer, stale).

    The edge answer when there is one; else the device stream's last confirmed answer if
    it is more confident than the device's answer and younger than ``max_age_ms``
    (*stale*, with its age); else the device's own answer.
    """
    if edge is not None:
        return edge, False
    if last is not None and last.confidence > device.confidence and \
            0 <= now_ms - last.ts_ms <= max_age_ms:
        return replace(last, tier=Tier.CACHE.value), True
    return device, False


def make_result(
    report_key: tuple[str, int, int],
    answer: Answer,
    *,
    reason: Reason,
    gateway_id: str,
    now_ms: int,
    latency_ms: float,
    revision: int = 0,
    cost: float = 0.0,
    escalation: Reason | None = None,
    degraded: bool = False,
    stale: bool = False,
) -> Result:
    """The Result for a frame, from parts already validated (the report's fields, an answer
    from a validated message or the edge model, the configured gateway id): normalised as
    the wire carries it, not validated again (``Result.unchecked``)."""
    age = max(0, now_ms - answer.ts_ms) if (stale or answer.tier == Tier.CACHE.value) else None
    result: Result = Result.unchecked(
        device_id=report_key[0], epoch=report_key[1], seq=report_key[2],
        label=answer.label, confidence=min(1.0, max(0.0, answer.confidence)),
        tier=answer.tier, model_id=answer.model_id, model_version=answer.model_version,
        latency_ms=max(0.0, latency_ms), cost=cost, reason=reason.value, revision=revision,
        gateway_id=gateway_id, ts_ms=now_ms, degraded=degraded, stale=stale, age_ms=age,
        escalation=escalation.value if escalation is not None else None,
        fused=answer.fused,
    )
    return result
