"""Cascade semantics (device -> edge -> cloud), shared by the gateway, calibration and evaluation.

* The device accepts its own answer when, on its **raw** int8-dequantized softmax
  (no temperature: the MCU cannot rescale cheaply), ``top1 >= device_conf`` and
  ``top1 - top2 >= device_margin`` and ``complexity <= complexity_limit``;
  otherwise the frame leaves the device and the gateway runs the edge model.
* The gateway accepts the edge answer when the edge top-1 confidence **after
  temperature scaling** (``temperatures["edge"]``) is ``>= edge_conf``; otherwise
  the frame is escalated to the cloud.

Thresholds live in the generated ``models/thresholds.json`` (``edgecascade models
calibrate``); :func:`load_settings` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import apply_temperature
from .errors import ModelError

DEFAULT_THRESHOLDS = Path(__file__).resolve().parent / "thresholds.json"
TIER_DEVICE, TIER_EDGE, TIER_CLOUD = 0, 1, 2
TIER_NAMES = ("device", "edge", "cloud")


@dataclass(frozen=True)
class Thresholds:
    device_conf: float
    device_margin: float
    complexity_limit: float
    edge_conf: float


def top2(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top-1 class, top-1 probability, top1 - top2 margin) per row."""
    p = np.asarray(probs)
    part = np.sort(p, axis=1)
    return p.argmax(axis=1), part[:, -1], part[:, -1] - part[:, -2]


def device_accepts(top1: np.ndarray, margin: np.ndarray, complexity: np.ndarray,
                   th: Thresholds) -> np.ndarray:
    return ((np.asarray(top1) >= th.device_conf) & (np.asarray(margin) >= th.device_margin)
            & (np.asarray(complexity) <= np.float32(th.complexity_limit)))


@dataclass(frozen=True)
class CascadeOutcome:
    pred: np.ndarray    # final class per frame
    tier: np.ndarray    # TIER_DEVICE / TIER_EDGE / TIER_CLOUD per frame

    @property
    def leave_device_share(self) -> float:
        return float((self.tier != TIER_DEVICE).mean())

    @property
    def cloud_share(self) -> float:
        return float((self.tier == TIER_CLOUD).mean())

    def accuracy(self, labels: np.ndarray) -> float:
        return float((self.pred == labels).mean())


def run_cascade(device_probs: np.ndarray, complexity: np.ndarray, edge_probs_cal: np.ndarray,
                cloud_probs: np.ndarray, th: Thresholds) -> CascadeOutcome:
    """Offline cascade over precomputed tier outputs (edge already temperature-scaled)."""
    d_cls, d_top, d_margin = top2(device_probs)
    e_cls, e_top, _ = top2(edge_probs_cal)
    c_cls = np.asarray(cloud_probs).argmax(axis=1)
    on_device = device_accepts(d_top, d_margin, complexity, th)
    on_edge = ~on_device & (e_top >= th.edge_conf)
    tier = np.where(on_device, TIER_DEVICE, np.where(on_edge, TIER_EDGE, TIER_CLOUD))
    pred = np.where(on_device, d_cls, np.where(on_edge, e_cls, c_cls))
    return CascadeOutcome(pred, tier)


@dataclass(frozen=True)
class CascadeSettings:
    """The generated thresholds file, typed."""

    thresholds: Thresholds
    temperatures: Mapping[str, float]
    mean_image: np.ndarray = field(repr=False)   # uint8 (H, W) training mean
    objective: Mapping[str, Any]
    path: Path

    def edge_calibrated(self, edge_probs: np.ndarray) -> np.ndarray:
        return apply_temperature(np.atleast_2d(edge_probs), self.temperatures["edge"])

    def edge_accepts(self, edge_probs: np.ndarray) -> np.ndarray:
        """Raw edge probabilities (N, C) -> bool (N,): keep the edge answer?"""
        return self.edge_calibrated(edge_probs).max(axis=1) >= self.thresholds.edge_conf

    def device_accepts(self, device_probs: np.ndarray, complexity: np.ndarray) -> np.ndarray:
        _, top, margin = top2(np.atleast_2d(device_probs))
        return device_accepts(top, margin, complexity, self.thresholds)


def parse_settings(doc: Mapping[str, Any], path: Path) -> CascadeSettings:
    try:
        th = Thresholds(**{k: float(doc["thresholds"][k]) for k in
                           ("device_conf", "device_margin", "complexity_limit", "edge_conf")})
        temps = {str(k): float(v) for k, v in doc["temperatures"].items()}
        mean = np.asarray(doc["mean_image"], dtype=np.uint8).reshape(doc["mean_image_shape"])
        objective = dict(doc["objective"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(path, f"malformed thresholds file: {exc!r}") from exc
    return CascadeSettings(th, temps, mean, objective, path)


def load_settings(path: str | Path | None = None) -> CascadeSettings:
    p = Path(path) if path is not None else DEFAULT_THRESHOLDS
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise ModelError(p, "thresholds file is missing (run `edgecascade models calibrate`)") \
            from None
    except (OSError, ValueError) as exc:
        raise ModelError(p, f"thresholds file is not valid JSON: {exc}") from exc
    return parse_settings(doc, p)
