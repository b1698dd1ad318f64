"""Pure threshold search for the cascade on precomputed (calibration) outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgecascade.models.calibration import nll
from edgecascade.models.cascade import Thresholds, device_accepts, top2
from edgecascade.models.fusion import (
    CLOUD_WEIGHTS,
    DEFAULT_WIRE_K,
    EDGE_WEIGHTS,
    Fusion,
    fuse_cloud,
    fuse_edge,
    wire_probs,
)

Q_STEP = 1.0 / 256.0  # int8 softmax output step: device thresholds sit on this grid


@dataclass(frozen=True)
class Objective:
    """``max_cloud_share``: maximise accuracy with cloud share <= value;
    ``within``: accuracy >= cloud-only - value, minimise cloud share.
    Both also keep the share of frames leaving the device <= ``max_leave_device``."""

    kind: str
    value: float
    max_leave_device: float = 0.4

    def __post_init__(self) -> None:
        if self.kind not in ("max_cloud_share", "within"):
            raise ValueError(f"unknown objective {self.kind!r}")

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "value": self.value,
                "max_leave_device": self.max_leave_device}


@dataclass(frozen=True)
class OperatingPoint:
    thresholds: Thresholds
    accuracy: float
    leave_device_share: float
    cloud_share: float

    def to_json(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "leave_device_share": self.leave_device_share,
                "cloud_share": self.cloud_share}


@dataclass(frozen=True)
class Candidates:
    """Every (device config, edge threshold) pair evaluated at once."""

    device: list[tuple[float, float, float]]   # (conf, margin, complexity_limit)
    edge: np.ndarray                           # edge thresholds
    accuracy: np.ndarray                       # (D, E)
    leave: np.ndarray                          # (D,)
    cloud: np.ndarray                          # (D, E)

    def point(self, d: int, e: int) -> OperatingPoint:
        conf, margin, cx = self.device[d]
        return OperatingPoint(Thresholds(conf, margin, cx, float(self.edge[e])),
                              float(self.accuracy[d, e]), float(self.leave[d]),
                              float(self.cloud[d, e]))


def device_grid(complexity: np.ndarray) -> list[tuple[float, float, float]]:
    confs = [k * Q_STEP for k in range(128, 256, 4)] + [255 * Q_STEP]
    margins = [k * Q_STEP for k in (0, 16, 32, 64, 96, 128, 160, 192)]
    qs = np.quantile(complexity, [0.8, 0.9, 0.95, 0.98, 1.0])
    limits = sorted({float(np.float32(q)) for q in qs} | {1.0})
    return [(c, m, x) for c in confs for m in margins for x in limits]


def evaluate_grid(dev_probs: np.ndarray, complexity: np.ndarray, edge_cal: np.ndarray,
                  cloud_probs: np.ndarray, labels: np.ndarray,
                  device: tuple[float, float, float] | None = None) -> Candidates:
    """Every device config (or only ``device``) against every edge threshold."""
    d_cls, d_top, d_margin = top2(dev_probs)
    e_cls, e_top, _ = top2(edge_cal)
    d_ok = d_cls == labels
    e_ok = e_cls == labels
    c_ok = np.asarray(cloud_probs).argmax(axis=1) == labels
    edge_grid = np.unique(np.concatenate([np.round(np.linspace(0.3, 1.0, 71), 4),
                                          np.round(np.linspace(0.9, 0.999, 34), 4), [0.0]]))
    e_acc = e_top[None, :] >= edge_grid[:, None]           # (E, N)
    e_score = np.where(e_acc, e_ok[None, :], c_ok[None, :])  # correctness once off-device
    grid = device_grid(complexity) if device is None else [device]
    acc = np.empty((len(grid), len(edge_grid)))
    cloud = np.empty_like(acc)
    leave = np.empty(len(grid))
    n = len(labels)
    for i, (c, m, x) in enumerate(grid):
        on = device_accepts(d_top, d_margin, complexity, Thresholds(c, m, x, 0.0))
        off = ~on
        leave[i] = off.mean()
        acc[i] = (d_ok[on].sum() + e_score[:, off].sum(axis=1)) / n
        cloud[i] = (~e_acc[:, off]).sum(axis=1) / n
    return Candidates(grid, edge_grid, acc, leave, cloud)


def choose(c: Candidates, objective: Objective, cloud_only_accuracy: float) -> OperatingPoint:
    """Pick the operating point; ties go to fewer cloud frames, then fewer leaving the device,
    then the stricter device thresholds."""
    feasible = c.leave[:, None] <= objective.max_leave_device + 1e-12
    if objective.kind == "max_cloud_share":
        feasible = feasible & (c.cloud <= objective.value + 1e-12)
        key = (-c.accuracy, c.cloud)
    else:
        feasible = feasible & (c.accuracy >= cloud_only_accuracy - objective.value - 1e-12)
        key = (c.cloud, -c.accuracy)
    if not feasible.any():
        raise ValueError(f"no thresholds satisfy {objective}")
    leave = np.broadcast_to(c.leave[:, None], c.accuracy.shape)
    flat = np.flatnonzero(feasible.ravel())
    order = np.lexsort((leave.ravel()[flat], key[1].ravel()[flat], key[0].ravel()[flat]))
    d, e = np.unravel_index(flat[order[0]], c.accuracy.shape)
    return c.point(int(d), int(e))


def sweep_curve(c: Candidates, max_leave_device: float) -> tuple[np.ndarray, np.ndarray]:
    """Best accuracy reachable at each cloud share (the Pareto front), for plotting."""
    ok = np.broadcast_to(c.leave[:, None] <= max_leave_device + 1e-12, c.cloud.shape)
    shares = np.unique(np.round(c.cloud[ok], 4))
    best = np.array([c.accuracy[ok & (np.round(c.cloud, 4) <= s)].max() for s in shares])
    return shares, best


def objective_key(p: OperatingPoint, objective: Objective) -> tuple[float, float]:
    """Larger is better: (accuracy, -cloud) or, for ``within``, (-cloud, accuracy)."""
    if objective.kind == "max_cloud_share":
        return (p.accuracy, -p.cloud_share)
    return (-p.cloud_share, p.accuracy)


@dataclass(frozen=True)
class FusionFit:
    """The fusion calibration chose, with the unfused point it had to beat."""

    fusion: Fusion
    point: OperatingPoint
    unfused: OperatingPoint
    tried: int

    def to_json(self) -> dict[str, object]:
        return {"weights": self.fusion.to_json(),
                "kept": {"edge": self.fusion.edge_fused, "cloud": self.fusion.cloud_fused},
                "calib": {"fused": self.point.to_json(), "unfused": self.unfused.to_json()},
                "candidates": self.tried,
                "rule": "fusion kept only where it beats the unfused cascade on the "
                        "calibration objective by at least min_gain_frames frames (in "
                        "accuracy, or in cloud frames at no less accuracy); edge stage only "
                        "unless cloud_stage",
                "min_gain_frames": MIN_GAIN_FRAMES}


#: A fused candidate must win by this many calibration frames (accuracy, or cloud frames
#: saved) over the unfused cascade: one frame is noise on a 1,000-frame split.
MIN_GAIN_FRAMES = 3


def _best_weights(candidates: list[Fusion], stage: Callable[[Fusion], np.ndarray],
                  labels: np.ndarray) -> Fusion:
    """The candidate whose pooled distribution has the lowest NLL (first on ties)."""
    losses = [nll(stage(f), labels) for f in candidates]
    return candidates[int(np.argmin(losses))]


def fit_fusion(dev_probs: np.ndarray, complexity: np.ndarray, edge_cal: np.ndarray,
               cloud_cal: np.ndarray, labels: np.ndarray, objective: Objective,
               cloud_only_accuracy: float, k: int = DEFAULT_WIRE_K, joint: bool = True,
               cloud_stage: bool = False) -> FusionFit:
    """Fusion weights and thresholds fitted together on the calibration split.

    The unfused thresholds fix which frames leave the device (fusion acts only after
    the device, so its device thresholds stay); on those frames each stage's weights
    minimise the pooled distribution's NLL (a smooth fit that does not chase single
    frames). Then the edge threshold is searched again for the edge-fused, the
    cloud-fused and the both-fused cascade; the best is kept only when it beats the
    unfused cascade on ``objective`` by :data:`MIN_GAIN_FRAMES` frames.

    ``cloud_stage`` also tries pooling all three at the cloud stage. Off by default: the
    gateway pools at the edge stage only (a cloud answer carries its label and
    confidence, not its distribution), and a calibration must describe what runs."""
    wire = wire_probs(dev_probs, k)

    def point(f: Fusion, device: tuple[float, float, float] | None = None) -> OperatingPoint:
        grid = evaluate_grid(dev_probs, complexity, fuse_edge(wire, edge_cal, f),
                             fuse_cloud(wire, edge_cal, cloud_cal, f), labels, device)
        return choose(grid, objective, cloud_only_accuracy)

    plain = Fusion(k=k)
    base = point(plain)
    th = base.thresholds
    keep = (th.device_confidence, th.device_margin, th.complexity_limit)
    _, d_top, d_margin = top2(dev_probs)
    off = ~device_accepts(d_top, d_margin, complexity, base.thresholds)
    if off.sum() < 2 * MIN_GAIN_FRAMES:
        return FusionFit(plain, base, base, 1)
    w, e, c, y = wire[off], edge_cal[off], cloud_cal[off], labels[off]
    edge_f = _best_weights([Fusion(a, k=k) for a in EDGE_WEIGHTS],
                           lambda f: fuse_edge(w, e, f), y)
    cloud_f = (_best_weights([Fusion(0.0, bd, be, k) for bd in CLOUD_WEIGHTS
                              for be in CLOUD_WEIGHTS], lambda f: fuse_cloud(w, e, c, f), y)
               if cloud_stage else plain)
    both = Fusion(edge_f.edge_device, cloud_f.cloud_device, cloud_f.cloud_edge, k)
    need = MIN_GAIN_FRAMES / len(labels)
    best_f, best_p, tried = plain, base, 1
    for f in dict.fromkeys((edge_f, cloud_f, both)):
        if f == plain:
            continue
        tried += 1
        try:
            p = point(f, None if joint else keep)
        except ValueError:  # no fused point meets the objective
            continue
        a, b = objective_key(p, objective), objective_key(base, objective)
        wins = a[0] - b[0] >= need - 1e-12 or (a[0] >= b[0] and a[1] - b[1] >= need - 1e-12)
        if wins and a > objective_key(best_p, objective):
            best_f, best_p = f, p
    return FusionFit(best_f, best_p, base, tried)
