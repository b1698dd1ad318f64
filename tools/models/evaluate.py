"""``edgecascade models evaluate``: every tier and the cascade over the test split."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.models.calibration import apply_temperature, ece
from edgecascade.models.cascade import (
    CascadeSettings,
    load_settings,
    run_cascade,
)
from edgecascade.models.registry import load_registry

from .outputs import TierOutputs, collect
from .paths import EVALUATION_JSON, EVALUATION_PNG
from .search import evaluate_grid, sweep_curve

TIERS = ("mcu", "edge", "cloud")


@dataclass(frozen=True)
class Sweep:
    """Accuracy against cloud share: the best over all thresholds, and the edge-threshold
    sweep with the chosen device thresholds."""

    front_share: np.ndarray
    front_accuracy: np.ndarray
    edge_share: np.ndarray
    edge_accuracy: np.ndarray


def edge_sweep(out: TierOutputs, settings: CascadeSettings) -> tuple[np.ndarray, np.ndarray]:
    edge_cal = apply_temperature(out.probs["edge"], settings.temperatures["edge"])
    th = settings.thresholds
    shares, accs = [], []
    for e in np.linspace(0.0, 1.0, 201):
        o = run_cascade(out.probs["mcu"], out.complexity, edge_cal, out.probs["cloud"],
                        replace(th, edge_confidence=float(e)))
        shares.append(o.cloud_share)
        accs.append(o.accuracy(out.labels))
    return np.array(shares), np.array(accs)


def evaluate(settings: CascadeSettings, out: TierOutputs) -> tuple[dict[str, Any], Sweep]:
    """Pure core: numbers from precomputed tier outputs."""
    labels = out.labels
    temps = settings.temperatures
    tiers: dict[str, dict[str, float]] = {}
    for t in TIERS:
        p = out.probs[t]
        tiers[t] = {
            "accuracy": float((p.argmax(1) == labels).mean()),
            "ece": ece(p, labels),
            "ece_calibrated": ece(apply_temperature(p, temps[t]), labels),
        }
    edge_cal = apply_temperature(out.probs["edge"], temps["edge"])
    o = run_cascade(out.probs["mcu"], out.complexity, edge_cal, out.probs["cloud"],
                    settings.thresholds)
    cloud_only = tiers["cloud"]["accuracy"]
    served = {name: float((o.tier == i).mean()) for i, name in
              enumerate(("device", "edge", "cloud"))}
    cascade: dict[str, Any] = {
        "accuracy": o.accuracy(labels),
        "leave_device_share": o.leave_device_share,
        "cloud_share": o.cloud_share,
        "cloud_cost_vs_cloud_only": o.cloud_share,  # one cloud call per escalated frame
        "accuracy_minus_cloud_only_points": (o.accuracy(labels) - cloud_only) * 100,
        "served_by": served,
    }
    grid = evaluate_grid(out.probs["mcu"], out.complexity, edge_cal, out.probs["cloud"],
                         labels)
    fs, fa = sweep_curve(grid, float(settings.objective.get("max_leave_device", 1.0)))
    es, ea = edge_sweep(out, settings)
    doc = {
        "generated_by": "edgecascade models evaluate (do not edit)",
        "split": out.split,
        "frames": int(len(labels)),
        "thresholds": settings.thresholds.as_file(),
        "temperatures": dict(temps),
        "tiers": tiers,
        "cascade": cascade,
        "targets": {
            "mcu_accuracy_ge_0.95": tiers["mcu"]["accuracy"] >= 0.95,
            "cascade_within_0.3_points_of_cloud":
                cascade["accuracy_minus_cloud_only_points"] >= -0.3,
            "cloud_share_le_0.10": cascade["cloud_share"] <= 0.10,
            "leave_device_le_0.40": cascade["leave_device_share"] <= 0.40,
            "ece_halved_every_tier": all(v["ece_calibrated"] <= 0.5 * v["ece"]
                                         for v in tiers.values()),
        },
    }
    return doc, Sweep(fs, fa, es, ea)


def format_table(doc: dict[str, Any]) -> str:
    rows = [f"{'':18s}{'accuracy':>9s}{'leave dev':>10s}{'to cloud':>9s}{'cloud cost':>11s}"
            f"{'ECE':>8s}{'ECE(T)':>8s}"]
    alone = {"mcu": (0.0, 0.0), "edge": (1.0, 0.0), "cloud": (1.0, 1.0)}  # (leave, cloud)
    for t, v in doc["tiers"].items():
        leave, cloud = alone[t]
        rows.append(f"{t + ' alone':18s}{v['accuracy']:9.4f}{leave:10.3f}{cloud:9.3f}"
                    f"{cloud:11.3f}{v['ece']:8.4f}{v['ece_calibrated']:8.4f}")
    c = doc["cascade"]
    rows.append(f"{'cascade':18s}{c['accuracy']:9.4f}{c['leave_device_share']:10.3f}"
                f"{c['cloud_share']:9.3f}{c['cloud_cost_vs_cloud_only']:11.3f}{'':>8s}{'':>8s}")
    rows.append(f"cascade - cloud-only: {c['accuracy_minus_cloud_only_points']:+.2f} points; "
                f"served by device/edge/cloud: "
                + "/".join(f"{v:.3f}" for v in c["served_by"].values()))
    rows.append("targets: " + ", ".join(f"{k}={'ok' if v else 'MISSED'}"
                                        for k, v in doc["targets"].items()))
    return "\n".join(rows)


def plot(doc: dict[str, Any], sweep: Sweep, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax.step(sweep.front_share * 100, sweep.front_accuracy * 100, where="post", color="0.6",
            label="best over all thresholds (oracle on test)")
    order = np.argsort(sweep.edge_share)
    ax.plot(sweep.edge_share[order] * 100, sweep.edge_accuracy[order] * 100, color="C0",
            label="edge_conf sweep (chosen device thresholds)")
    ax.axhline(doc["tiers"]["cloud"]["accuracy"] * 100, color="C2", ls="--",
               label="cloud only")
    c = doc["cascade"]
    ax.plot([c["cloud_share"] * 100], [c["accuracy"] * 100], "r*", ms=14,
            label="operating point")
    ax.set_xlabel("frames reaching the cloud (%)")
    ax.set_ylabel("cascade accuracy on test split (%)")
    ax.set_xlim(0, 30)
    lo = min(doc["tiers"]["edge"]["accuracy"], doc["tiers"]["mcu"]["accuracy"]) * 100 - 0.5
    ax.set_ylim(lo, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def run(log: Callable[[str], None] = print, json_path: Path = EVALUATION_JSON,
        png_path: Path = EVALUATION_PNG) -> dict[str, Any]:
    settings = load_settings()
    reg = load_registry()
    out = collect("test", reg, settings.mean_image)
    doc, sweep = evaluate(settings, out)
    doc["models"] = {m.tier: {"id": m.id, "version": m.version, "sha256": m.sha256,
                              "size": m.size} for m in reg.models}
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    log(format_table(doc))
    log(f"wrote {json_path}")
    if plot(doc, sweep, png_path):
        log(f"wrote {png_path}")
    else:
        log("matplotlib not installed: no plot (pip install 'edgecascade[train]')")
    return doc
