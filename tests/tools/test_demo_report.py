"""The demo report's arithmetic: joins, duplicates, corrections, outage accounting."""

from __future__ import annotations

import json

from edgecascade.protocol import Result
from edgecascade.tools.demo.plot import render_html
from edgecascade.tools.demo.report import SeenResult, SentFrame, render_text, summarize


def result(seq: int, label: int, tier: str = "device", revision: int = 0, cost: float = 0.0,
           degraded: bool = False, stale: bool = False) -> Result:
    return Result("d1", 1, seq, label, 0.9, tier, "m", 1, 1.0, cost,
                  "confident" if revision == 0 else "cloud_answer", revision, "gw", 0,
                  degraded=degraded, stale=stale)


SENT = [SentFrame("d1", 1, i, label=i % 10, sent_at=100.0 + i) for i in range(10)]


def test_accuracy_shares_and_latency_per_tier() -> None:
    seen = [SeenResult(result(i, i % 10, tier="device" if i < 6 else "edge"), 100.0 + i + 0.01)
            for i in range(10)]
    seen[9] = SeenResult(result(9, 0, tier="edge"), 109.05)  # wrong answer
    report = summarize(SENT, seen, cloud_cost_per_frame_alone=2.0)
    assert report.frames_answered == 10 and report.unanswered == 0
    assert report.accuracy == 0.9
    assert report.tiers["device"].frames == 6 and report.tiers["device"].accuracy == 1.0
    assert report.tiers["edge"].share == 0.4 and report.tiers["edge"].accuracy == 0.75
    assert abs(report.tiers["device"].p50_ms - 10.0) < 1e-6
    assert report.cloud_only_cost == 20.0 and report.cost_ratio == 0.0


def test_corrections_win_and_duplicates_are_counted() -> None:
    seen = [SeenResult(result(i, i % 10), 101.0 + i) for i in range(8)]
    seen.append(SeenResult(result(8, 3, tier="cache", stale=True, degraded=True), 109.0))
    seen.append(SeenResult(result(8, 8, tier="cloud", revision=1, cost=0.5), 120.0))
    seen.append(SeenResult(result(0, 0), 121.0))  # a duplicate final
    seen.append(SeenResult(result(42, 1), 121.0))  # not ours: ignored
    report = summarize(SENT, seen, cloud_cost_per_frame_alone=1.0, outage=(105.0, 110.0),
                       spooled_peak=3, drain_seconds=1.5)
    assert report.frames_answered == 9 and report.unanswered == 1
    assert report.duplicate_finals == 1 and report.corrections == 1
    assert report.accuracy == 1.0  # the correction fixed frame 8
    assert report.accuracy_first_answer == 8 / 9
    assert report.stale_share == 0.1
    assert report.cloud_cost == 0.5
    assert report.outage is not None
    assert report.outage.frames_sent == 5 and report.outage.answered == 4
    assert report.outage.answered_degraded_or_stale == 1
    assert report.outage.corrections_after == 1
    doc = json.loads(report.to_json())
    assert doc["outage"]["spooled_peak"] == 3
    text = render_text(report)
    assert "cloud outage" in text and "duplicate finals 1" in text
    page = render_html(report, text, {"device": [1.0, 2.0], "cloud": [50.0]},
                       [(0.0, 0.95), (0.1, 0.98)], (0.05, 0.975))
    assert page.count("<svg") == 2 and "this run" in page
