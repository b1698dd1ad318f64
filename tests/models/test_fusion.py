"""Tier fusion (issue 22): the wire view of the device, pooling, the fitted choice, the
evaluation's fused / unfused / oracle numbers, and the synthetic workload end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgecascade.emulator.policy import decide
from edgecascade.models.cascade import (
    TIER_CLOUD,
    TIER_DEVICE,
    TIER_EDGE,
    CascadeOutcome,
    Thresholds,
    load_settings,
    run_cascade,
)
from edgecascade.models.errors import ModelError
from edgecascade.models.fusion import (
    NO_FUSION,
    Fusion,
    fuse_cloud,
    fuse_edge,
    pool,
    report_probs,
    wire_probs,
)
from edgecascade.tools.models.evaluate import routing_accuracy
from edgecascade.tools.models.search import MIN_GAIN_FRAMES, Objective, fit_fusion


def test_wire_view_keeps_top_k_and_spreads_the_rest() -> None:
    p = np.array([[0.5, 0.2, 0.2, 0.06, 0.04], [0.1, 0.1, 0.1, 0.1, 0.6]])
    w = wire_probs(p, k=3)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.allclose(w[0], [0.5, 0.2, 0.2, 0.05, 0.05], atol=1e-4)
    # ties go to the lower class index (as the firmware's ec_topk): classes 4, 0, 1 sent
    assert np.allclose(w[1], [0.1, 0.1, 0.1, 0.1, 0.6], atol=1e-4)
    assert w[1, 2] == pytest.approx(w[1, 3])


def test_report_view_matches_the_device_emulator() -> None:
    """What the gateway rebuilds from a report equals the offline wire view."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        q = rng.integers(-128, 40, 10).astype(np.int8)
        d = decide(q, 1 / 256, -128, 3, np.zeros(4, np.uint8), np.zeros(4, np.uint8),
                   Thresholds())
        probs = ((q.astype(np.float64) + 128) / 256)[None, :]
        got = report_probs(d.classes, d.confidences, 10)
        assert np.allclose(got, wire_probs(probs, 3), atol=2e-5)


def test_zero_weights_are_the_unfused_cascade() -> None:
    rng = np.random.default_rng(0)
    dev, edge, cloud = (rng.dirichlet(np.ones(5), 50) for _ in range(3))
    w = wire_probs(dev)
    assert np.allclose(fuse_edge(w, edge, NO_FUSION), edge)
    assert np.allclose(fuse_cloud(w, edge, cloud, NO_FUSION), cloud)
    assert np.allclose(pool([(1.0, edge)]), edge)
    cx = np.zeros(50, np.float32)
    th = Thresholds(0.6, 0.0, 1.0, 0.5)
    a = run_cascade(dev, cx, edge, cloud, th)
    b = run_cascade(dev, cx, edge, cloud, th, NO_FUSION, 1.7)
    assert np.array_equal(a.pred, b.pred) and np.array_equal(a.tier, b.tier)
    assert b.fused_share == 0.0


def test_pooling_changes_the_edge_answer_and_is_flagged() -> None:
    # the device is sure of class 0, the edge slightly prefers class 1
    dev = np.array([[0.8, 0.1, 0.05, 0.05]])
    edge = np.array([[0.4, 0.45, 0.1, 0.05]])
    cloud = np.array([[0.0, 0.0, 1.0, 0.0]])
    th = Thresholds(0.9, 0.0, 1.0, 0.6)  # the device alone is not enough
    plain = run_cascade(dev, np.zeros(1, np.float32), edge, cloud, th)
    assert plain.tier[0] == TIER_CLOUD and plain.pred[0] == 2
    fused = run_cascade(dev, np.zeros(1, np.float32), edge, cloud, th, Fusion(1.0))
    assert fused.tier[0] == TIER_EDGE and fused.pred[0] == 0
    assert fused.fused is not None and bool(fused.fused[0])


def _independent(n: int, seed: int, device_noise: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Device and edge with independent errors of similar size; a near-perfect cloud.
    ``device_noise``: the device's distribution says nothing about the label."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)

    def tier(strength: float) -> np.ndarray:
        logits = rng.normal(0, 1, (n, 10))
        logits[np.arange(n), y] += strength
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    dev = tier(0.0 if device_noise else 4.0)
    q = np.round(dev * 256) / 256  # the device's int8 softmax grid
    return q, np.zeros(n, np.float32), tier(3.0), tier(6.0), y


def test_fit_keeps_fusion_where_it_wins_and_records_the_baseline() -> None:
    dev, cx, edge, cloud, y = _independent(1500, 1)
    obj = Objective("max_cloud_share", 0.10, 1.0)
    fit = fit_fusion(dev, cx, edge, cloud, y, obj, float((cloud.argmax(1) == y).mean()))
    assert fit.fusion.edge_fused
    need = MIN_GAIN_FRAMES / len(y) - 1e-9
    p, u = fit.point, fit.unfused
    assert p.accuracy - u.accuracy >= need or \
        (p.accuracy >= u.accuracy and u.cloud_share - p.cloud_share >= need)
    doc = fit.to_json()
    assert doc["kept"]["edge"] is True and doc["calib"]["unfused"] == fit.unfused.to_json()


def test_fit_keeps_the_unfused_cascade_when_the_device_adds_nothing() -> None:
    dev, cx, edge, cloud, y = _independent(1500, 2, device_noise=True)
    obj = Objective("max_cloud_share", 0.10, 1.0)
    fit = fit_fusion(dev, cx, edge, cloud, y, obj, float((cloud.argmax(1) == y).mean()))
    assert not fit.fusion.edge_fused
    assert fit.point == fit.unfused


def test_routing_accuracy_counts_the_cheapest_right_tier() -> None:
    right = np.array([[1, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 0], [0, 1, 1]], bool)
    tier = np.array([TIER_DEVICE, TIER_EDGE, TIER_EDGE, TIER_DEVICE, TIER_CLOUD])
    o = CascadeOutcome(np.zeros(5, np.int64), tier)
    # right: frame 0 (device), 1 (edge), 3 (nobody right: the device is cheapest)
    assert routing_accuracy(o, right) == pytest.approx(3 / 5)


def test_settings_read_the_fusion_table_and_reject_bad_weights(tmp_path: Path) -> None:
    doc = json.loads(Path(load_settings().path).read_text())
    doc["fusion"] = {"weights": {"edge": {"device_weight": 0.5},
                                 "cloud": {"device_weight": 0.0, "edge_weight": 0.25}, "k": 3},
                     "unfused_edge_conf": 0.7}
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(doc))
    s = load_settings(path)
    assert s.fusion == Fusion(0.5, 0.0, 0.25, 3) and s.unfused_edge_confidence == 0.7
    # the gateway's edge stage: the pooled top-1 is what edge_conf is compared with
    wire = report_probs((0, 1, 2), (52000, 6000, 3000), 10)
    edge = np.full((1, 10), 0.02)
    edge[0, 1] = 0.82
    pooled = s.edge_stage(wire, edge)
    manual = np.exp(0.5 * np.log(wire) + np.log(s.edge_calibrated(edge)))
    assert np.allclose(pooled, manual / manual.sum())
    doc["fusion"]["weights"]["edge"]["device_weight"] = -1
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="fusion.edge_device"):
        load_settings(path)


def test_synthetic_workload_fusion_meets_the_targets(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """The deterministic imported workload (real .tflite tiers, tflite-micro and LiteRT):
    fusion is chosen on its calibration split, never worse than unfused on its test
    split, and reaches the unfused accuracy with <= 0.6x the unfused cloud share."""
    from edgecascade.cli import main

    out = tmp_path / "synthetic"
    assert main(["models", "synthetic", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["models", "evaluate", "--workload", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "oracle router" in printed and "routing acc" in printed
    doc = json.loads((out / "evaluation.json").read_text())
    z = doc["fusion"]
    assert z["kept"]["edge"]
    assert doc["targets"]["fused_never_worse_than_unfused"]
    assert z["fused"]["at_unfused_share"] >= z["unfused"]["accuracy"]
    assert z["fused"]["cloud_ratio"] <= 0.6
    assert z["oracle"]["accuracy"] >= z["fused"]["accuracy"]
    # the thresholds file records the choice and what it beat
    th = json.loads((out / "thresholds.json").read_text())
    assert th["fusion"]["kept"]["edge"] and "unfused" in th["fusion"]["calib"]
    assert load_settings(out / "thresholds.json").fusion.edge_fused
    assert main(["models", "evaluate", "--workload", str(tmp_path / "nowhere")]) == 2
