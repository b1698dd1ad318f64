"""Per-version device thresholds and the canary rule (pure cores, no broker)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edgecascade.config import ConfigError, Problems
from edgecascade.gateway import policy
from edgecascade.gateway.model_versions import VersionThresholds, observe
from edgecascade.gateway.models_rollout import (
    CanaryRule,
    Tally,
    Verdict,
    count,
    judge,
    read_rollout,
)
from edgecascade.models.cascade import Thresholds
from edgecascade.protocol import Reason, Report, confidence_to_wire, encode
from edgecascade.protocol.ota_messages import ModelManifest


def manifest(version: int, conf: float) -> ModelManifest:
    return ModelManifest("mnist-mcu", version, "mcu", hashlib.sha256(b"m").digest(), 1, 1, 1,
                         conf, 0.1, 0.5)


def report(version: int, conf: float) -> Report:
    return Report("d1", 1, 0, 0, "mnist-mcu", version, (3, 5),
                  (confidence_to_wire(conf), confidence_to_wire(0.0)), complexity=0.1)


def test_each_report_is_judged_by_its_own_versions_thresholds() -> None:
    table = VersionThresholds(Thresholds(device_confidence=0.9, edge_confidence=0.7))
    table, why = observe(table, encode(manifest(2, 0.8)))
    assert why is None
    v1, v2 = report(1, 0.85), report(2, 0.85)
    assert table.for_report(v1).device_confidence == 0.9  # never announced: the config's
    assert table.for_report(v2).device_confidence == float(np.float32(0.8))
    assert table.for_report(v2).edge_confidence == 0.7  # edge settings stay the edge's
    assert policy.device_escalation(v1, table.for_report(v1)) is Reason.LOW_CONFIDENCE
    assert policy.device_escalation(v2, table.for_report(v2)) is None
    again, _ = observe(table, encode(manifest(2, 0.6)))  # re-announced: replaced, not added
    assert len(again.rows) == 1 and again.for_report(v2).device_confidence == pytest.approx(0.6)
    same, why = observe(again, b"\xc1")
    assert same is again and why is not None


def test_canary_waits_then_promotes_or_rolls_back_by_the_rule() -> None:
    rule = CanaryRule(min_frames=10, max_leave_increase=0.05, max_agreement_drop=0.03)
    canaries = {"c1"}

    def feed(t: Tally, device: str, n: int, left: int, agree: int) -> Tally:
        for i in range(n):
            escalated = i < left
            t = count(t, device_id=device, canaries=canaries, left_device=escalated,
                      device_label=1 if escalated else None,
                      final_label=(1 if i < agree else 2) if escalated else None)
        return t

    t = feed(Tally(), "c1", 5, 1, 1)
    assert judge(rule, t).verdict is Verdict.WAIT
    base = feed(feed(Tally(), "r1", 100, 20, 19), "c1", 100, 21, 20)
    assert judge(rule, base).verdict is Verdict.PROMOTE
    leaves = feed(feed(Tally(), "r1", 100, 20, 19), "c1", 100, 30, 28)
    j = judge(rule, leaves)
    assert j.verdict is Verdict.ROLL_BACK and "leave" in j.why
    disagrees = feed(feed(Tally(), "r1", 100, 20, 20), "c1", 100, 20, 15)
    j = judge(rule, disagrees)
    assert j.verdict is Verdict.ROLL_BACK and "agreement" in j.why


def test_rollout_section_reports_every_bad_key() -> None:
    problems = Problems()
    rule = read_rollout({"min_frames": 50, "max_leave_increase": 0.1}, problems)
    problems.check()
    assert rule == CanaryRule(50, 0.1, 0.03)
    problems = Problems()
    read_rollout({"min_frames": 0, "max_agreement_drop": 2.0, "bogus": 1}, problems)
    with pytest.raises(ConfigError) as err:
        problems.check()
    text = str(err.value)
    assert "rollout.min_frames" in text and "rollout.max_agreement_drop" in text \
        and "bogus" in text


def test_rollout_promotes_the_canary_manifest_or_publishes_the_previous_one() -> None:
    from dataclasses import replace as dc_replace

    from edgecascade.gateway.models_rollout import Rollout, on_manifest, on_result
    from edgecascade.protocol import Result

    rule = CanaryRule(min_frames=3, max_leave_increase=0.05, max_agreement_drop=0.03)
    v1 = manifest(1, 0.9)
    v2 = dc_replace(manifest(2, 0.8), devices=("c1",))

    def result(device: str, tier: str, label: int) -> Result:
        return Result(device, 1, 0, label, 0.9, tier, "m", 1, 1.0, 0.0, "confident", 0, "gw",
                      0)

    def run(canary_tier: str) -> tuple[Rollout, object]:
        r = on_manifest(on_manifest(Rollout(), v1), v2)
        assert r.canary_out and r.previous == v1
        out = None
        for _ in range(3):
            r, out = on_result(r, rule, dc_replace(report(1, 0.95), device_id="r1"),
                               result("r1", "device", 3))
            assert out is None
            r, out = on_result(r, rule, dc_replace(report(2, 0.95), device_id="c1"),
                               result("c1", canary_tier, 3 if canary_tier == "device" else 4))
        return r, out

    r, published = run("device")  # canaries behave like the rest
    assert published == dc_replace(v2, devices=()) and not r.canary_out
    r, published = run("edge")  # canaries escalate everything, and the edge disagrees
    assert published == v1 and r.current == v1 and r.last is not None \
        and r.last.verdict is Verdict.ROLL_BACK
    # a canary still reporting v1 counts in neither group
    r0 = on_manifest(on_manifest(Rollout(), v1), v2)
    r1, _ = on_result(r0, rule, dc_replace(report(1, 0.95), device_id="c1"),
                      result("c1", "device", 3))
    assert r1.tally == r0.tally


def test_tracker_pairs_each_first_result_with_its_report() -> None:
    from dataclasses import replace as dc_replace

    from edgecascade.gateway.models_rollout import RolloutTracker
    from edgecascade.protocol import Result

    t = RolloutTracker(CanaryRule(min_frames=2, max_leave_increase=0.05,
                                  max_agreement_drop=0.03))
    t.on_report(report(1, 0.95))  # no canary out: not remembered
    t.on_manifest(manifest(1, 0.9))
    t.on_manifest(dc_replace(manifest(2, 0.8), devices=("c1",)))
    published = []
    for seq in range(2):
        for dev, version in (("r1", 1), ("c1", 2)):
            r = dc_replace(report(version, 0.95), device_id=dev, seq=seq)
            t.on_report(r)
            res = Result(dev, 1, seq, 3, 0.95, "device", "mnist-mcu", version, 1.0, 0.0,
                         "confident", 0, "gw", 0)
            assert t.on_result(dc_replace(res, revision=1)) is None  # corrections: not counted
            out = t.on_result(res)
            if out is not None:
                published.append(out)
    assert [(m.version, m.devices) for m in published] == [(2, ())]
    assert not t.state.canary_out
