"""``edgecascade models calibrate``: temperatures, ECE, cascade thresholds -> thresholds.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgecascade.models.calibration import (
    apply_temperature,
    ece,
    ece_noise_floor,
    fit_temperature,
)
from edgecascade.models.cascade import run_cascade
from edgecascade.models.dataset import get_source
from edgecascade.models.registry import load_registry

from .fallback_rule import measure_fallback
from .outputs import TierOutputs, collect
from .paths import THRESHOLDS_JSON
from .search import FusionFit, Objective, fit_fusion
from .settings_header import write_settings_header

TIERS = ("mcu", "edge", "cloud")
THRESHOLDS_SCHEMA = 1


def fit_temperatures(calib: TierOutputs) -> dict[str, float]:
    return {t: round(fit_temperature(calib.probs[t], calib.labels), 4) for t in TIERS}


def fit_operating_point(calib: TierOutputs, temps: dict[str, float],
                        objective: Objective) -> FusionFit:
    """Thresholds and fusion weights fitted together on the calibration outputs."""
    cloud_only = float((calib.probs["cloud"].argmax(1) == calib.labels).mean())
    return fit_fusion(calib.probs["mcu"], calib.complexity,
                      apply_temperature(calib.probs["edge"], temps["edge"]),
                      apply_temperature(calib.probs["cloud"], temps["cloud"]), calib.labels,
                      objective, cloud_only)


def test_point(test: TierOutputs, temps: dict[str, float], fit: FusionFit) -> dict[str, Any]:
    """The chosen operating point on the test split (the unfused one alongside)."""
    edge_cal = apply_temperature(test.probs["edge"], temps["edge"])
    o = run_cascade(test.probs["mcu"], test.complexity, edge_cal, test.probs["cloud"],
                    fit.point.thresholds, fit.fusion, temps["cloud"])
    u = run_cascade(test.probs["mcu"], test.complexity, edge_cal, test.probs["cloud"],
                    fit.unfused.thresholds)
    return {"accuracy": o.accuracy(test.labels), "leave_device_share": o.leave_device_share,
            "cloud_share": o.cloud_share, "fused_share": o.fused_share,
            "unfused": {"accuracy": u.accuracy(test.labels), "cloud_share": u.cloud_share},
            "cloud_only_accuracy": float((test.probs["cloud"].argmax(1) == test.labels).mean())}


def monitoring_doc(calib: TierOutputs, temps: dict[str, float], fit: FusionFit,
                   complexity_on: bool = True) -> dict[str, Any]:
    """The thresholds file's ``monitoring`` table: what the gateway's drift alarms and
    live-accuracy estimate compare the field with (gateway/drift.py, gateway/accuracy.py).

    ``confidence`` / ``complexity``: histograms of the device's wire top-1 confidence and
    complexity over the calibration split; ``agreement``: how often the device's answer
    agrees with the edge's (and the cloud's) on frames the device accepts (what audits
    measure); ``calibration_error``: per tier, the ECE of the calibrated confidence on the
    frames that tier answers in the cascade (device: the wire view scaled by its
    temperature), the systematic part of a confidence-based accuracy estimate."""
    from edgecascade.gateway.drift import Reference
    from edgecascade.models.cascade import TIER_CLOUD, TIER_DEVICE, TIER_EDGE
    from edgecascade.models.fusion import wire_probs

    labels = calib.labels
    wire = wire_probs(calib.probs["mcu"], fit.fusion.k)
    edge_cal = apply_temperature(calib.probs["edge"], temps["edge"])
    o = run_cascade(calib.probs["mcu"], calib.complexity, edge_cal, calib.probs["cloud"],
                    fit.point.thresholds, fit.fusion, temps["cloud"])
    d_cls = calib.probs["mcu"].argmax(1)
    on = o.tier == TIER_DEVICE
    doc: dict[str, Any] = {"frames": int(len(labels)), "classes": int(wire.shape[1]),
                           "confidence": Reference.fit(wire.max(1)).to_json()}
    if complexity_on:
        doc["complexity"] = Reference.fit(calib.complexity).to_json()
    if on.any():
        doc["agreement"] = {
            "device~edge": float((d_cls[on] == edge_cal[on].argmax(1)).mean()),
            "device~cloud": float((d_cls[on] == calib.probs["cloud"][on].argmax(1)).mean())}
    answered = {TIER_DEVICE: apply_temperature(wire, temps["mcu"]), TIER_EDGE: edge_cal,
                TIER_CLOUD: apply_temperature(calib.probs["cloud"], temps["cloud"])}
    doc["calibration_error"] = {
        name: round(ece(p[o.tier == t], labels[o.tier == t]), 5)
        for t, name, p in ((t, n, answered[t]) for t, n in
                           ((TIER_DEVICE, "device"), (TIER_EDGE, "edge"), (TIER_CLOUD, "cloud")))
        if (o.tier == t).sum() > 0}
    return doc


def fusion_doc(fit: FusionFit) -> dict[str, Any]:
    """The thresholds file's ``fusion`` table: weights, the choice and why."""
    return {**fit.to_json(), "unfused_edge_conf": fit.unfused.thresholds.edge_confidence}


def ece_report(out: TierOutputs, temps: dict[str, float]) -> dict[str, dict[str, float]]:
    return {
        t: {"before": round(ece(out.probs[t], out.labels), 5),
            "after": round(ece(apply_temperature(out.probs[t], temps[t]), out.labels), 5),
            "noise_floor": round(ece_noise_floor(out.probs[t]), 5)}
        for t in TIERS
    }


def calibrate(objective: Objective, log: Callable[[str], None] = print,
              path: Path = THRESHOLDS_JSON) -> dict[str, Any]:
    reg = load_registry()
    mean = get_source().split_record().train_mean
    calib = collect("calib", reg, mean)
    test = collect("test", reg, mean)
    temps = fit_temperatures(calib)
    cloud_only = float((calib.probs["cloud"].argmax(1) == calib.labels).mean())
    fit = fit_operating_point(calib, temps, objective)
    point = fit.point
    doc: dict[str, Any] = {
        "schema": THRESHOLDS_SCHEMA,
        "generated_by": "edgecascade models calibrate (do not edit)",
        "models": {m.tier: {"id": m.id, "version": m.version, "sha256": m.sha256}
                   for m in reg.models},
        "semantics": {
            "device": "accept when raw int8-dequantized top1 >= device_conf and top1 - top2 "
                      ">= device_margin and complexity <= complexity_limit (no temperature)",
            "edge": "accept when edge top1 after temperature scaling (pooled with the "
                    "device's wire top-k where fusion.kept.edge) >= edge_conf, else "
                    "escalate to the cloud",
            "fusion": "softmax(a * log p_device_wire + log p_edge_T) at the edge stage; "
                      "softmax(b_d * log p_device_wire + b_e * log p_edge_T + log p_cloud_T) "
                      "at the cloud stage; weights 0: unfused",
        },
        "thresholds": point.thresholds.as_file(),
        "temperatures": temps,
        "objective": objective.to_json(),
        "operating_point": {
            "calib": {**point.to_json(), "cloud_only_accuracy": cloud_only},
            "test": test_point(test, temps, fit),
        },
        "fusion": fusion_doc(fit),
        "ece": {"calib": ece_report(calib, temps), "test": ece_report(test, temps)},
        "fallback": measure_fallback(calib, temps, point.thresholds).to_json(),
        "monitoring": monitoring_doc(calib, temps, fit),
        "mean_image_shape": list(mean.shape),
        "mean_image": mean.astype(int).ravel().tolist(),
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {path}")
    write_settings_header(log=log)
    return doc


def format_report(doc: dict[str, Any]) -> str:
    lines = ["tier    T       ECE calib before/after (floor)   ECE test before/after (floor)"]
    for t in TIERS:
        c = doc["ece"]["calib"][t]
        s = doc["ece"].get("test", {}).get(t)
        test = (f"{s['before']:.4f} / {s['after']:.4f} ({s['noise_floor']:.4f})" if s
                else "-")
        lines.append(f"{t:6s} {doc['temperatures'][t]:6.3f}   {c['before']:.4f} / {c['after']:.4f}"
                     f" ({c['noise_floor']:.4f})        {test}")
    th = doc["thresholds"]
    lines.append("thresholds: " + ", ".join(f"{k}={v:.4g}" for k, v in th.items()))
    for split in ("calib", "test"):
        op = doc["operating_point"].get(split)
        if op is None:
            continue
        lines.append(f"{split:5s}: cascade acc {op['accuracy']:.4f} (cloud-only "
                     f"{op['cloud_only_accuracy']:.4f}), leave device "
                     f"{op['leave_device_share']:.3f}, reach cloud {op['cloud_share']:.3f}")
    fz = doc.get("fusion")
    if fz:
        u = fz["calib"]["unfused"]
        w = fz["weights"]
        lines.append(f"fusion: edge {'kept' if fz['kept']['edge'] else 'off'} "
                     f"(a={w['edge']['device_weight']}), cloud "
                     f"{'kept' if fz['kept']['cloud'] else 'off'} "
                     f"(b_d={w['cloud']['device_weight']}, b_e={w['cloud']['edge_weight']}); "
                     f"unfused on calib: acc {u['accuracy']:.4f}, reach cloud "
                     f"{u['cloud_share']:.3f}")
        t = doc["operating_point"].get("test", {}).get("unfused")
        if t:
            lines.append(f"       unfused on test: acc {t['accuracy']:.4f}, reach cloud "
                         f"{t['cloud_share']:.3f}")
    return "\n".join(lines)


def temperatures_ok(doc: dict[str, Any], split: str = "test", ratio: float = 0.5) -> bool:
    return all(v["after"] <= ratio * v["before"]
               for v in doc["ece"].get(split, doc["ece"]["calib"]).values())


__all__ = ["calibrate", "format_report", "temperatures_ok"]


def recalibrate_workload(workload: Any, objective: Objective,
                         log: Callable[[str], None] = print) -> dict[str, Any]:
    """``models calibrate --workload``: refit an imported (or HAR) workload's temperatures,
    thresholds and fusion on its own calibration split; the complexity reference and
    the models stay. Rewrites the workload's thresholds.json."""
    from edgecascade.models.cascade import load_settings
    from edgecascade.models.workload import get_workload

    from .outputs import split_outputs

    wl = get_workload(workload)
    settings = load_settings(wl.thresholds_path)
    doc = json.loads(wl.thresholds_path.read_text())
    calib = split_outputs(wl, "calib", settings)
    temps = fit_temperatures(calib)
    fit = fit_operating_point(calib, temps, objective)
    cloud_only = float((calib.probs["cloud"].argmax(1) == calib.labels).mean())
    doc.update({
        "generated_by": "edgecascade models calibrate --workload (do not edit)",
        "thresholds": fit.point.thresholds.as_file(), "temperatures": temps,
        "objective": objective.to_json(), "fusion": fusion_doc(fit),
        "fallback": measure_fallback(calib, temps, fit.point.thresholds,
                                     wl.load_split("calib").groups).to_json(),
        "monitoring": monitoring_doc(calib, temps, fit,
                                     settings.complexity_kind != "off")})
    doc["operating_point"] = {"calib": {**fit.point.to_json(),
                                        "cloud_only_accuracy": cloud_only}}
    if wl.split_path("test").is_file():
        doc["operating_point"]["test"] = test_point(split_outputs(wl, "test", settings),
                                                    temps, fit)
    doc["ece"] = {"calib": ece_report(calib, temps)}
    wl.thresholds_path.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {wl.thresholds_path}")
    return doc
