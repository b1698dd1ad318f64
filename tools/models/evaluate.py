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
    TIER_CLOUD,
    TIER_DEVICE,
    TIER_EDGE,
    CascadeOutcome,
    CascadeSettings,
    Thresholds,
    load_settings,
    run_cascade,
)
from edgecascade.models.fusion import NO_FUSION, Fusion, fuse_edge, wire_probs
from edgecascade.models.workload import Workload, get_workload

from .outputs import TierOutputs, split_outputs
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
                        replace(th, edge_confidence=float(e)), settings.fusion,
                        settings.temperatures.get("cloud", 1.0))
        shares.append(o.cloud_share)
        accs.append(o.accuracy(out.labels))
    return np.array(shares), np.array(accs)


#: The 0.6x target: the fused cascade reaches the unfused accuracy with at most this
#: share of the unfused cascade's cloud frames (on workloads with headroom).
CLOUD_RATIO_TARGET = 0.6
EDGE_SWEEP = np.linspace(0.0, 1.0, 401)


def _front(shares: np.ndarray, accs: np.ndarray, at: float) -> float:
    """Best accuracy of a sweep with cloud share <= ``at`` (nan when none)."""
    ok = shares <= at + 1e-12
    return float(accs[ok].max()) if ok.any() else float("nan")


def _sweep(out: TierOutputs, settings: CascadeSettings, th: Thresholds, f: Fusion
           ) -> tuple[np.ndarray, np.ndarray]:
    edge_cal = settings.edge_calibrated(out.probs["edge"])
    pts = [run_cascade(out.probs["mcu"], out.complexity, edge_cal, out.probs["cloud"],
                       replace(th, edge_confidence=float(e)), f,
                       settings.temperatures.get("cloud", 1.0)) for e in EDGE_SWEEP]
    return (np.array([o.cloud_share for o in pts]),
            np.array([o.accuracy(out.labels) for o in pts]))


def routing_accuracy(o: CascadeOutcome, right: np.ndarray) -> float:
    """Share of frames the cascade sent to the cheapest tier that answers them right
    (``right``: (N, 3) bool per tier; frames no tier gets right belong on the device)."""
    cheapest = np.where(right[:, 0], TIER_DEVICE, np.where(right[:, 1], TIER_EDGE,
                        np.where(right[:, 2], TIER_CLOUD, TIER_DEVICE)))
    return float((o.tier == cheapest).mean())


def fusion_comparison(settings: CascadeSettings, out: TierOutputs) -> dict[str, Any]:
    """Fused vs unfused vs the oracle router on one split (pure).

    Both cascades keep the calibrated device thresholds; ``at_unfused_share`` is the best
    fused accuracy at the unfused cloud share (never worse: >= the unfused accuracy),
    ``share_for_unfused_accuracy`` the least cloud share at which the fused cascade
    reaches the unfused accuracy over the edge-threshold sweep, and ``cloud_ratio`` that
    over the least share at which the unfused sweep itself reaches it (the 0.6x target)."""
    labels = out.labels
    temps = settings.temperatures
    f = settings.fusion
    th = settings.thresholds
    unfused_th = replace(th, edge_confidence=settings.unfused_edge_confidence
                         if settings.unfused_edge_confidence is not None
                         else th.edge_confidence)
    edge_cal = settings.edge_calibrated(out.probs["edge"])
    cloud_t = temps.get("cloud", 1.0)
    fo = run_cascade(out.probs["mcu"], out.complexity, edge_cal, out.probs["cloud"], th, f,
                     cloud_t)
    uo = run_cascade(out.probs["mcu"], out.complexity, edge_cal, out.probs["cloud"],
                     unfused_th)
    right = np.stack([out.probs[t].argmax(1) == labels for t in ("mcu", "edge", "cloud")], 1)
    fused_edge_ok = fuse_edge(wire_probs(out.probs["mcu"], f.k), edge_cal, f).argmax(1) == labels
    right_fused = np.stack([right[:, 0], fused_edge_ok, right[:, 2]], 1)
    us, ua = _sweep(out, settings, unfused_th, NO_FUSION)
    fs, fa = _sweep(out, settings, th, f)
    u_acc, u_share = uo.accuracy(labels), uo.cloud_share
    reach = fs[fa >= u_acc - 1e-12]
    need = float(reach.min()) if reach.size else float("nan")
    reach_u = us[ua >= u_acc - 1e-12]
    need_u = float(reach_u.min()) if reach_u.size else u_share
    grid = np.unique(np.concatenate([us, fs]))
    grid = grid[grid <= max(u_share, fo.cloud_share) + 0.05]
    worst = min((_front(fs, fa, s) - _front(us, ua, s)) for s in grid) if grid.size else 0.0
    oracle_cloud = ~right[:, 0] & ~right[:, 1] & right[:, 2]
    return {
        "weights": f.to_json(),
        "kept": {"edge": f.edge_fused, "cloud": f.cloud_fused},
        "unfused": {"accuracy": u_acc, "cloud_share": u_share,
                    "share_for_its_accuracy": need_u,
                    "leave_device_share": uo.leave_device_share,
                    "routing_accuracy": routing_accuracy(uo, right)},
        "fused": {"accuracy": fo.accuracy(labels), "cloud_share": fo.cloud_share,
                  "leave_device_share": fo.leave_device_share, "fused_share": fo.fused_share,
                  "routing_accuracy": routing_accuracy(fo, right_fused),
                  "at_unfused_share": _front(fs, fa, u_share),
                  "share_for_unfused_accuracy": need,
                  "cloud_ratio": need / need_u if need_u > 0 else 1.0,
                  "worst_points_vs_unfused_same_share": worst * 100},
        "oracle": {"accuracy": float(right.any(axis=1).mean()),
                   "cloud_share": float(oracle_cloud.mean()),
                   "leave_device_share": float((~right[:, 0] & right[:, 1:].any(1)).mean()),
                   "routing_accuracy": 1.0},
        "cloud_only_accuracy": float(right[:, 2].mean()),
        "temperatures_used": {"cloud": cloud_t},
    }


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
                    settings.thresholds, settings.fusion, temps.get("cloud", 1.0))
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
    doc: dict[str, Any] = {
        "generated_by": "edgecascade models evaluate (do not edit)",
        "split": out.split,
        "frames": int(len(labels)),
        "thresholds": settings.thresholds.as_file(),
        "temperatures": dict(temps),
        "tiers": tiers,
        "cascade": cascade,
        "fusion": fusion_comparison(settings, out),
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
    fusion, targets = doc["fusion"], doc["targets"]
    fz = fusion["fused"]
    targets["fused_never_worse_than_unfused"] = \
        fz["at_unfused_share"] >= fusion["unfused"]["accuracy"] - 1e-12
    fusion["cloud_ratio_target_met"] = bool(fz["cloud_ratio"] <= CLOUD_RATIO_TARGET)
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
    z = doc.get("fusion")
    if z:
        rows.append(f"{'':18s}{'accuracy':>9s}{'to cloud':>9s}{'routing acc':>12s}")
        for name in ("unfused", "fused", "oracle"):
            v = z[name]
            rows.append(f"{name + ' cascade' if name != 'oracle' else 'oracle router':18s}"
                        f"{v['accuracy']:9.4f}{v['cloud_share']:9.3f}"
                        f"{v['routing_accuracy']:12.3f}")
        fz = z["fused"]
        w = z["weights"]
        rows.append(f"fusion kept: edge={z['kept']['edge']} (a={w['edge']['device_weight']}), "
                    f"cloud={z['kept']['cloud']} (b_d={w['cloud']['device_weight']}, "
                    f"b_e={w['cloud']['edge_weight']}); fused answers {fz['fused_share']:.3f}")
        rows.append(f"fused at the unfused cloud share {z['unfused']['cloud_share']:.3f}: "
                    f"{fz['at_unfused_share']:.4f}; cloud share to reach the unfused "
                    f"accuracy {fz['share_for_unfused_accuracy']:.3f} vs unfused "
                    f"{z['unfused']['share_for_its_accuracy']:.3f} "
                    f"({fz['cloud_ratio']:.2f}x, target <= {CLOUD_RATIO_TARGET}x); worst "
                    f"fused - unfused at one share {fz['worst_points_vs_unfused_same_share']:+.2f}"
                    " points")
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


def run(log: Callable[[str], None] = print, json_path: Path | None = None,
        png_path: Path | None = None, workload: str | Path | Workload = "mnist"
        ) -> dict[str, Any]:
    wl = get_workload(workload)
    settings = load_settings(wl.thresholds_path)
    reg = wl.registry()
    out = split_outputs(wl, "test", settings)
    doc, sweep = evaluate(settings, out)
    doc["workload"] = wl.name
    doc["models"] = {m.tier: {"id": m.id, "version": m.version, "sha256": m.sha256,
                              "size": m.size} for m in reg.models}
    default = wl.name == "mnist" and wl.root.resolve() == EVALUATION_JSON.parent.resolve()
    json_path = json_path or (EVALUATION_JSON if default else wl.evaluation_path)
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"workload {wl.name} ({wl.root}), {doc['frames']} test frames")
    log(format_table(doc))
    log(f"wrote {json_path}")
    png_path = png_path or (EVALUATION_PNG if default else json_path.with_suffix(".png"))
    if plot(doc, sweep, png_path):
        log(f"wrote {png_path}")
    else:
        log("matplotlib not installed: no plot (pip install 'edgecascade[train]')")
    return doc
