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
from .search import Objective, choose, evaluate_grid
from .settings_header import write_settings_header

TIERS = ("mcu", "edge", "cloud")
THRESHOLDS_SCHEMA = 1


def fit_temperatures(calib: TierOutputs) -> dict[str, float]:
    return {t: round(fit_temperature(calib.probs[t], calib.labels), 4) for t in TIERS}


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
    edge_cal = apply_temperature(calib.probs["edge"], temps["edge"])
    cloud_only = float((calib.probs["cloud"].argmax(1) == calib.labels).mean())
    grid = evaluate_grid(calib.probs["mcu"], calib.complexity, edge_cal,
                         calib.probs["cloud"], calib.labels)
    point = choose(grid, objective, cloud_only)
    test_out = run_cascade(test.probs["mcu"], test.complexity,
                           apply_temperature(test.probs["edge"], temps["edge"]),
                           test.probs["cloud"], point.thresholds)
    doc: dict[str, Any] = {
        "schema": THRESHOLDS_SCHEMA,
        "generated_by": "edgecascade models calibrate (do not edit)",
        "models": {m.tier: {"id": m.id, "version": m.version, "sha256": m.sha256}
                   for m in reg.models},
        "semantics": {
            "device": "accept when raw int8-dequantized top1 >= device_conf and top1 - top2 "
                      ">= device_margin and complexity <= complexity_limit (no temperature)",
            "edge": "accept when edge top1 after temperature scaling >= edge_conf, "
                    "else escalate to the cloud",
        },
        "thresholds": point.thresholds.as_file(),
        "temperatures": temps,
        "objective": objective.to_json(),
        "operating_point": {
            "calib": {**point.to_json(), "cloud_only_accuracy": cloud_only},
            "test": {"accuracy": test_out.accuracy(test.labels),
                     "leave_device_share": test_out.leave_device_share,
                     "cloud_share": test_out.cloud_share,
                     "cloud_only_accuracy":
                         float((test.probs["cloud"].argmax(1) == test.labels).mean())},
        },
        "ece": {"calib": ece_report(calib, temps), "test": ece_report(test, temps)},
        "fallback": measure_fallback(calib, temps, point.thresholds).to_json(),
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
        c, s = doc["ece"]["calib"][t], doc["ece"]["test"][t]
        lines.append(f"{t:6s} {doc['temperatures'][t]:6.3f}   {c['before']:.4f} / {c['after']:.4f}"
                     f" ({c['noise_floor']:.4f})        {s['before']:.4f} / {s['after']:.4f}"
                     f" ({s['noise_floor']:.4f})")
    th = doc["thresholds"]
    lines.append("thresholds: " + ", ".join(f"{k}={v:.4g}" for k, v in th.items()))
    for split in ("calib", "test"):
        op = doc["operating_point"][split]
        lines.append(f"{split:5s}: cascade acc {op['accuracy']:.4f} (cloud-only "
                     f"{op['cloud_only_accuracy']:.4f}), leave device "
                     f"{op['leave_device_share']:.3f}, reach cloud {op['cloud_share']:.3f}")
    return "\n".join(lines)


def temperatures_ok(doc: dict[str, Any], split: str = "test", ratio: float = 0.5) -> bool:
    return all(v["after"] <= ratio * v["before"] for v in doc["ece"][split].values())


__all__ = ["calibrate", "format_report", "temperatures_ok"]
