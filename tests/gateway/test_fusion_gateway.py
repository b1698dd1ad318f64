"""Tier fusion in the running gateway (issue 22): with a calibrated fusion the edge stage
decides on the pool of the edge model's scaled distribution and the device's top-k as
reported, and the result says it is fused (real mosquitto, gateway, edge model)."""

from __future__ import annotations

from dataclasses import replace

from edgecascade.gateway.edge import TFLiteEdgeModel
from edgecascade.gateway.edge_tier import fused_edge
from edgecascade.gateway.effects import FrameJob
from edgecascade.models.cascade import load_settings
from edgecascade.models.fusion import NO_FUSION, Fusion, fuse_edge, report_probs
from edgecascade.protocol import Result, confidence_to_wire, decode, encode
from tests.gateway.conftest import decoded_results
from tests.gateway.support import EDGE_MODEL, THRESHOLDS, images, report
from tests.support import publish


def _edge(index: int):  # type: ignore[no-untyped-def]
    t = load_settings(THRESHOLDS).thresholds
    imgs, _ = images()
    return TFLiteEdgeModel(str(EDGE_MODEL), temperature=t.edge_temperature).classify(
        imgs[[index]])[0]


def test_fused_edge_is_the_pool_or_the_edge_alone() -> None:
    ans = _edge(0)
    rep = replace(report("d1", 1, confident=False, image=0), classes=(2, 3, 4),
                  confidences=(confidence_to_wire(0.5), confidence_to_wire(0.3),
                               confidence_to_wire(0.1)))
    job = FrameJob(rep, 0.0, 0, None)
    assert fused_edge(job, ans, NO_FUSION) == (ans.label, ans.confidence, ans.margin, False)
    label, conf, margin, fused = fused_edge(job, ans, Fusion(1.0))
    pooled = fuse_edge(report_probs(rep.classes, rep.confidences, 10), ans.probs[None],
                       Fusion(1.0))[0]
    assert fused and label == int(pooled.argmax()) and conf == float(pooled.max())
    assert 0.0 <= margin <= conf


def test_gateway_flags_fused_edge_answers(broker, topics, start_gateway, results) -> None:
    imgs, labels = images()
    t = load_settings(THRESHOLDS).thresholds
    # frames the edge is unsure of alone (so the device's evidence can decide)
    model = TFLiteEdgeModel(str(EDGE_MODEL), temperature=t.edge_temperature)
    answers = model.classify(imgs[:300])
    idx = [i for i, a in enumerate(answers) if 0.4 < a.confidence < t.edge_confidence][:4]
    assert idx
    start_gateway(broker.url, topics, fusion=Fusion(2.0))
    reps = []
    for seq, i in enumerate(idx):
        truth = int(labels[i])
        reps.append(replace(report("d1", seq + 1, confident=False, image=i),
                            classes=(truth, (truth + 1) % 10),
                            confidences=(confidence_to_wire(0.85), confidence_to_wire(0.1))))
    publish(broker.host, broker.port, [(topics.device_report("d1"), encode(r)) for r in reps])
    results.wait_for(len(reps), 30)
    got = {r.seq: r for r in decoded_results(results)}
    for seq, i in enumerate(idx):
        r = got[seq + 1]
        pooled = fuse_edge(report_probs(reps[seq].classes, reps[seq].confidences, 10),
                           answers[i].probs[None], Fusion(2.0))[0]
        if pooled.max() >= t.edge_confidence:  # the pool is sure: the edge stage answers
            assert (r.tier, r.fused, r.label) == ("edge", True, int(pooled.argmax()))
    assert any(r.fused for r in got.values())
    wire = encode(next(r for r in got.values() if r.fused))
    assert decode(Result, wire).fused is True


def test_config_takes_the_fusion_of_its_thresholds_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from edgecascade.gateway.config import parse_config

    doc = json.loads(THRESHOLDS.read_text())
    doc["fusion"] = {"weights": {"edge": {"device_weight": 0.75}, "k": 3}}
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(doc))
    cfg = parse_config({"thresholds_file": str(path)}, env={})
    assert cfg.fusion == Fusion(0.75) and cfg.monitoring.reference == str(path)
    assert parse_config({}, env={}).fusion == NO_FUSION
