"""The demo's report: a pure summary of what the devices sent and what came back.

Inputs are the devices' own ground-truth ledger (what was sent, with its label, never
on the wire) and every result seen on the result topics. Output: accuracy end to end
and per answering tier, tier shares, degraded/stale shares, latency percentiles per
tier (device send -> final result received), cloud cost against sending every frame
to the cloud, duplicates, corrections, and what happened during an outage.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from edgecascade.protocol import Result

Key = tuple[str, int, int]


@dataclass(frozen=True)
class SentFrame:
    device_id: str
    epoch: int
    seq: int
    label: int
    sent_at: float  # wall clock seconds

    @property
    def key(self) -> Key:
        return (self.device_id, self.epoch, self.seq)


@dataclass(frozen=True)
class SeenResult:
    result: Result
    received_at: float  # wall clock seconds


@dataclass(frozen=True)
class TierStats:
    frames: int
    share: float
    accuracy: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class OutageStats:
    start: float
    end: float
    frames_sent: int
    answered: int
    answered_degraded_or_stale: int
    corrections_after: int
    spooled_peak: float
    drain_seconds: float | None


@dataclass(frozen=True)
class DemoReport:
    frames_sent: int
    frames_answered: int
    unanswered: int
    duplicate_finals: int
    corrections: int
    accuracy: float
    accuracy_first_answer: float
    tiers: dict[str, TierStats]
    degraded_share: float
    stale_share: float
    cloud_cost: float
    cloud_only_cost: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    offline_cascade_accuracy: float | None = None
    outage: OutageStats | None = None
    monitoring: dict[str, Any] | None = None  # issue 22 (tools/demo/monitoring_report.py)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def cost_ratio(self) -> float:
        return self.cloud_cost / self.cloud_only_cost if self.cloud_only_cost else 0.0

    def to_json(self) -> str:
        doc: dict[str, Any] = asdict(self)
        doc["cost_ratio"] = self.cost_ratio
        return json.dumps(doc, indent=2, sort_keys=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(
    sent: list[SentFrame],
    seen: list[SeenResult],
    *,
    cloud_cost_per_frame_alone: float,
    outage: tuple[float, float] | None = None,
    spooled_peak: float = 0.0,
    drain_seconds: float | None = None,
    offline_cascade_accuracy: float | None = None,
) -> DemoReport:
    """Join results with ground truth. Results for frames not in ``sent`` are ignored."""
    truth = {s.key: s for s in sent}
    first: dict[Key, SeenResult] = {}
    latest: dict[Key, SeenResult] = {}
    finals: dict[Key, int] = defaultdict(int)
    corrections = 0
    for item in sorted(seen, key=lambda s: s.received_at):
        r = item.result
        if r.key not in truth:
            continue
        if r.revision == 0:
            finals[r.key] += 1
        else:
            corrections += 1
        first.setdefault(r.key, item)
        if r.key not in latest or r.revision > latest[r.key].result.revision:
            latest[r.key] = item
    answered = len(first)
    n = len(sent)

    def correct(item: SeenResult) -> bool:
        return item.result.label == truth[item.result.key].label

    by_tier: dict[str, list[SeenResult]] = defaultdict(list)
    for item in first.values():
        by_tier[item.result.tier].append(item)
    tiers = {}
    for tier, items in sorted(by_tier.items()):
        lat = [(i.received_at - truth[i.result.key].sent_at) * 1000 for i in items]
        tiers[tier] = TierStats(
            frames=len(items),
            share=len(items) / n if n else 0.0,
            accuracy=sum(correct(i) for i in items) / len(items),
            p50_ms=percentile(lat, 50),
            p95_ms=percentile(lat, 95),
            p99_ms=percentile(lat, 99),
        )
    all_lat = [(i.received_at - truth[i.result.key].sent_at) * 1000 for i in first.values()]
    cost = sum(i.result.cost for i in seen if i.result.key in truth)
    outage_stats = None
    if outage is not None:
        start, end = outage
        during = [s for s in sent if start <= s.sent_at < end]
        answered_during = [first[s.key] for s in during if s.key in first]
        outage_stats = OutageStats(
            start=start,
            end=end,
            frames_sent=len(during),
            answered=len(answered_during),
            answered_degraded_or_stale=sum(
                1 for i in answered_during if i.result.degraded or i.result.stale
            ),
            corrections_after=sum(
                1 for i in seen if i.result.revision > 0 and i.received_at >= end
                and i.result.key in truth
            ),
            spooled_peak=spooled_peak,
            drain_seconds=drain_seconds,
        )
    return DemoReport(
        frames_sent=n,
        frames_answered=answered,
        unanswered=n - answered,
        duplicate_finals=sum(c - 1 for c in finals.values() if c > 1),
        corrections=corrections,
        accuracy=sum(correct(i) for i in latest.values()) / answered if answered else 0.0,
        accuracy_first_answer=(
            sum(correct(i) for i in first.values()) / answered if answered else 0.0
        ),
        tiers=tiers,
        degraded_share=sum(i.result.degraded for i in first.values()) / n if n else 0.0,
        stale_share=sum(i.result.stale for i in first.values()) / n if n else 0.0,
        cloud_cost=cost,
        cloud_only_cost=cloud_cost_per_frame_alone * n,
        latency_p50_ms=percentile(all_lat, 50),
        latency_p95_ms=percentile(all_lat, 95),
        latency_p99_ms=percentile(all_lat, 99),
        offline_cascade_accuracy=offline_cascade_accuracy,
        outage=outage_stats,
    )


def render_text(report: DemoReport) -> str:
    lines = [
        "",
        "edgecascade demo report",
        "=======================",
        f"frames sent        {report.frames_sent}",
        f"frames answered    {report.frames_answered}  (unanswered {report.unanswered}, "
        f"duplicate finals {report.duplicate_finals}, corrections {report.corrections})",
        f"accuracy           {report.accuracy:.2%} end to end "
        f"(first answers {report.accuracy_first_answer:.2%})",
    ]
    if report.offline_cascade_accuracy is not None:
        diff = (report.accuracy - report.offline_cascade_accuracy) * 100
        lines.append(
            f"offline cascade    {report.offline_cascade_accuracy:.2%} on the same split "
            f"({diff:+.2f} points over the wire)"
        )
    lines += [
        "",
        f"{'tier':<8} {'frames':>7} {'share':>7} {'accuracy':>9} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8}",
    ]
    for tier, s in report.tiers.items():
        lines.append(
            f"{tier:<8} {s.frames:>7} {s.share:>7.1%} {s.accuracy:>9.2%} {s.p50_ms:>8.1f} "
            f"{s.p95_ms:>8.1f} {s.p99_ms:>8.1f}"
        )
    answered_share = report.frames_answered / max(1, report.frames_sent)
    lines.append(
        f"{'all':<8} {report.frames_answered:>7} {answered_share:>7.1%}"
        f" {report.accuracy_first_answer:>9.2%} {report.latency_p50_ms:>8.1f}"
        f" {report.latency_p95_ms:>8.1f} {report.latency_p99_ms:>8.1f}"
    )
    lines += [
        "latency: device send -> first answer received by a subscriber (end to end: "
        "broker, gateway, cloud round trip); the gateway's own figure (/metrics, live "
        "page) is report receipt -> result publish",
        "",
        f"degraded {report.degraded_share:.1%}   stale {report.stale_share:.1%}",
        f"cloud cost         {report.cloud_cost:.1f} billed messages vs "
        f"{report.cloud_only_cost:.1f} sending every frame to the cloud "
        f"({report.cost_ratio:.1%})",
    ]
    if report.outage is not None:
        o = report.outage
        drain = f"{o.drain_seconds:.1f} s" if o.drain_seconds is not None else "not drained"
        lines += [
            "",
            f"cloud outage       {o.end - o.start:.0f} s: {o.frames_sent} frames sent, "
            f"{o.answered} answered ({o.answered_degraded_or_stale} degraded or stale)",
            f"                   spool peak {o.spooled_peak:.0f} frames, drained in {drain}, "
            f"{o.corrections_after} corrections published after",
        ]
    from .monitoring_report import render_lines  # issue 22: live accuracy, audits, drift

    lines += render_lines(report.monitoring)
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"
