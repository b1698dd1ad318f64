"""Tier fusion: log-linear pooling of the evidence the cascade already has (pure).

At the **edge stage** the gateway holds two opinions about a frame: the device's top-k
as sent on the wire (``Report.classes`` / ``Report.confidences``) and the edge model's
temperature-scaled probabilities. Instead of deciding on the edge model alone, the
fused distribution is::

    fused_edge = softmax(a * log p_device_wire + log p_edge_cal)

where ``p_device_wire`` is the device's top-k confidences with the remaining mass
spread evenly over the classes not sent (floored at :data:`PROB_FLOOR`). At the
**cloud stage** all three may be pooled::

    fused_cloud = softmax(b_d * log p_device_wire + b_e * log p_edge_cal + log p_cloud_cal)

Weight 0 everywhere is the unfused cascade exactly (``softmax(log p) == p``).
Calibration fits the weights together with the thresholds and keeps a stage's fusion
only where it beats the unfused cascade on the calibration objective; the choice is
recorded in the thresholds file's ``fusion`` table (:meth:`Fusion.to_json`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .calibration import PROB_FLOOR

#: Top-k the device sends by default (firmware and emulator ``k``); calibration models
#: the wire with it.
DEFAULT_WIRE_K = 3
#: Fixed-point scale of wire confidences (protocol CONFIDENCE_SCALE).
WIRE_SCALE = 65535.0


@dataclass(frozen=True)
class Fusion:
    """Fusion weights; all zero (the default) is the unfused cascade.

    ``edge_device``: ``a`` above (edge stage). ``cloud_device`` / ``cloud_edge``:
    ``b_d`` / ``b_e`` (cloud stage). ``k``: the device top-k the weights were fitted on.
    """

    edge_device: float = 0.0
    cloud_device: float = 0.0
    cloud_edge: float = 0.0
    k: int = DEFAULT_WIRE_K

    def __post_init__(self) -> None:
        for name in ("edge_device", "cloud_device", "cloud_edge"):
            v = getattr(self, name)
            if not (np.isfinite(v) and 0.0 <= v <= 10.0):
                raise ValueError(f"fusion.{name} must be within 0..10, got {v!r}")
        if not 1 <= self.k <= 10:
            raise ValueError(f"fusion.k must be within 1..10, got {self.k!r}")

    @property
    def edge_fused(self) -> bool:
        return self.edge_device > 0.0

    @property
    def cloud_fused(self) -> bool:
        return self.cloud_device > 0.0 or self.cloud_edge > 0.0

    def to_json(self) -> dict[str, Any]:
        return {"edge": {"device_weight": self.edge_device},
                "cloud": {"device_weight": self.cloud_device, "edge_weight": self.cloud_edge},
                "k": self.k}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Fusion:
        edge = dict(doc.get("edge", {}))
        cloud = dict(doc.get("cloud", {}))
        return cls(float(edge.get("device_weight", 0.0)),
                   float(cloud.get("device_weight", 0.0)),
                   float(cloud.get("edge_weight", 0.0)), int(doc.get("k", DEFAULT_WIRE_K)))


NO_FUSION = Fusion()


def wire_probs(probs: np.ndarray, k: int = DEFAULT_WIRE_K) -> np.ndarray:
    """The device's probabilities (N, C) as the gateway sees them: the top-k rounded to
    the wire's fixed point (ties to the lower class, as the firmware), the remaining mass
    spread evenly over the other classes."""
    p = np.asarray(probs, dtype=np.float64)
    n, c = p.shape
    k = min(k, c)
    order = np.argsort(-p, axis=1, kind="stable")[:, :k]
    rows = np.arange(n)[:, None]
    top = np.round(np.clip(p[rows, order], 0.0, 1.0) * WIRE_SCALE) / WIRE_SCALE
    rest = np.maximum(1.0 - top.sum(axis=1, keepdims=True), 0.0) / max(c - k, 1)
    out = np.broadcast_to(rest, (n, c)).copy()
    out[rows, order] = top
    return out


def report_probs(classes: Sequence[int], confidences: Sequence[int], n_classes: int
                 ) -> np.ndarray:
    """One report's wire top-k (classes, u16 confidences) -> (1, C) as :func:`wire_probs`."""
    c = int(n_classes)
    top = np.asarray(confidences, dtype=np.float64) / WIRE_SCALE
    k = len(top)
    rest = max(1.0 - float(top.sum()), 0.0) / max(c - k, 1)
    out = np.full((1, c), rest)
    idx = np.asarray(classes, dtype=np.int64)
    ok = (idx >= 0) & (idx < c)
    out[0, idx[ok]] = top[ok]
    return out


def pool(parts: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
    """softmax(sum w * log max(p, floor)) over (weight, probabilities (N, C)) pairs."""
    logits: np.ndarray | None = None
    for w, p in parts:
        if w == 0.0:
            continue
        term = w * np.log(np.maximum(np.asarray(p, dtype=np.float64), PROB_FLOOR))
        logits = term if logits is None else logits + term
    if logits is None:
        raise ValueError("pool needs at least one part with a non-zero weight")
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def fuse_edge(device_wire: np.ndarray, edge_cal: np.ndarray, f: Fusion) -> np.ndarray:
    """The edge stage's distribution (the edge's own when not fused)."""
    if not f.edge_fused:
        return np.asarray(edge_cal, dtype=np.float64)
    return pool([(f.edge_device, device_wire), (1.0, edge_cal)])


def fuse_cloud(device_wire: np.ndarray, edge_cal: np.ndarray, cloud_cal: np.ndarray,
               f: Fusion) -> np.ndarray:
    """The cloud stage's distribution (the cloud's own when not fused)."""
    if not f.cloud_fused:
        return np.asarray(cloud_cal, dtype=np.float64)
    return pool([(f.cloud_device, device_wire), (f.cloud_edge, edge_cal), (1.0, cloud_cal)])


#: Weights calibration tries (0: unfused). Log-linear pooling of a temperature-scaled
#: tier with a raw int8 one: weights above ~2 let the weaker tier dominate.
EDGE_WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)
CLOUD_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
