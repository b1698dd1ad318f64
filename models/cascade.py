"""Cascade semantics (device -> edge -> cloud), shared by the gateway, calibration and evaluation.

* The device accepts its own answer when, on its **raw** int8-dequantized softmax
  (no temperature: the MCU cannot rescale cheaply), ``top1 >= device_conf`` and
  ``top1 - top2 >= device_margin`` and ``complexity <= complexity_limit``;
  otherwise the frame leaves the device and the gateway runs the edge model.
* The gateway accepts the edge answer when the edge top-1 confidence **after
  temperature scaling** (``temperatures["edge"]``) is ``>= edge_conf``; otherwise
  the frame is escalated to the cloud.
* **Fusion** (:mod:`.fusion`, the file's ``fusion`` table): where calibration found it
  better, the edge stage decides on the log-linear pool of the device's wire top-k and
  the edge probabilities (``edge_conf`` then applies to the fused top-1), and the cloud
  stage answers with the pool of all three. Weights 0 (the default) are the unfused
  cascade exactly; an answer from a fused stage is flagged ``fused`` on the result.

Thresholds live in the generated ``models/thresholds.json`` (``edgecascade models
calibrate``); :func:`load_settings` is the one reader of that file, and :class:`Thresholds`
the one thresholds type of the project (gateway, emulator and tools), with one set of
defaults for when the file is absent. Where a process takes thresholds from more than the
file, :func:`resolve_thresholds` applies the one precedence, later layers winning::

    defaults < thresholds file < config table ([thresholds] in gateway.toml)
             < environment (EC_THRESHOLD_<FIELD>, e.g. EC_THRESHOLD_EDGE_CONFIDENCE)
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import apply_temperature
from .errors import ModelError
from .fusion import NO_FUSION, Fusion, fuse_cloud, fuse_edge, wire_probs

if typing.TYPE_CHECKING:
    from edgecascade.config import Problems

DEFAULT_THRESHOLDS = Path(__file__).resolve().parent / "thresholds.json"
TIER_DEVICE, TIER_EDGE, TIER_CLOUD = 0, 1, 2
TIER_NAMES = ("device", "edge", "cloud")


ENV_PREFIX = "EC_THRESHOLD_"
#: Field -> key in the file's ``thresholds`` table (the file format predates the field
#: names; edge_temperature is the file's ``temperatures.edge``, edge_margin is not in it).
FILE_KEYS = {"device_confidence": "device_conf", "device_margin": "device_margin",
             "complexity_limit": "complexity_limit", "edge_confidence": "edge_conf"}


class ThresholdsError(ModelError, ValueError):
    """Thresholds out of range; ``problems`` lists ``(field, why)`` for each."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("thresholds", "; ".join(f"{k}: {w}" for k, w in problems))


def _f32(value: float) -> float:
    return float(np.float32(value))  # compared as the MCU stores them


@dataclass(frozen=True)
class Thresholds:
    """When a device (or edge) answer is good enough; the only thresholds type.

    The defaults apply when no calibrated file is present. ``device_margin`` 0.25 is
    never the binding test next to ``device_confidence`` 0.90 (softmax: top1 >= 0.9
    leaves top2 <= 0.1). Positional order (device_confidence, device_margin,
    complexity_limit) is what the device uses, so ``Thresholds(c, m, x)`` works there.
    """

    device_confidence: float = 0.90
    device_margin: float = 0.25
    complexity_limit: float = math.inf  # inf: no complexity test
    edge_confidence: float = 0.80
    edge_margin: float = 0.0
    edge_temperature: float = 1.0  # edge probabilities are temperature-scaled first
    #: Degraded-answer sources, measured best first (``device``, ``edge``,
    #: ``last_good@<age>``; the file's ``fallback.order``); empty: the built-in rule.
    fallback_order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = []
        for name in ("device_confidence", "device_margin", "edge_confidence", "edge_margin"):
            v = getattr(self, name)
            if not 0.0 <= _f32(v) <= 1.0:
                bad.append((name, f"must be within 0..1, got {v!r}"))
        if not _f32(self.complexity_limit) >= 0.0:
            bad.append(("complexity_limit", f"must be >= 0, got {self.complexity_limit!r}"))
        if not self.edge_temperature > 0.0:
            bad.append(("edge_temperature", f"must be > 0, got {self.edge_temperature!r}"))
        if bad:
            raise ThresholdsError(bad)

    def as_file(self) -> dict[str, float]:
        """The file's ``thresholds`` table (what ``models calibrate`` writes)."""
        return {key: float(getattr(self, name)) for name, key in FILE_KEYS.items()}


def top2(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top-1 class, top-1 probability, top1 - top2 margin) per row."""
    p = np.asarray(probs)
    part = np.sort(p, axis=1)
    return p.argmax(axis=1), part[:, -1], part[:, -1] - part[:, -2]


def device_accepts(top1: np.ndarray, margin: np.ndarray, complexity: np.ndarray,
                   th: Thresholds) -> np.ndarray:
    return ((np.asarray(top1) >= th.device_confidence)
            & (np.asarray(margin) >= th.device_margin)
            & (np.asarray(complexity) <= np.float32(th.complexity_limit)))


@dataclass(frozen=True)
class CascadeOutcome:
    pred: np.ndarray    # final class per frame
    tier: np.ndarray    # TIER_DEVICE / TIER_EDGE / TIER_CLOUD per frame
    fused: np.ndarray | None = None  # bool per frame: answered by a fused stage

    @property
    def fused_share(self) -> float:
        return 0.0 if self.fused is None else float(self.fused.mean())

    @property
    def leave_device_share(self) -> float:
        return float((self.tier != TIER_DEVICE).mean())

    @property
    def cloud_share(self) -> float:
        return float((self.tier == TIER_CLOUD).mean())

    def accuracy(self, labels: np.ndarray) -> float:
        return float((self.pred == labels).mean())


def run_cascade(device_probs: np.ndarray, complexity: np.ndarray, edge_probs_cal: np.ndarray,
                cloud_probs: np.ndarray, th: Thresholds, fusion: Fusion = NO_FUSION,
                cloud_temperature: float = 1.0) -> CascadeOutcome:
    """Offline cascade over precomputed tier outputs (edge already temperature-scaled;
    the cloud's are scaled by ``cloud_temperature`` before a cloud-stage pool)."""
    d_cls, d_top, d_margin = top2(device_probs)
    if fusion.edge_fused or fusion.cloud_fused:
        wire = wire_probs(device_probs, fusion.k)
        cloud_probs = fuse_cloud(wire, edge_probs_cal,
                                 apply_temperature(np.asarray(cloud_probs), cloud_temperature),
                                 fusion)
        edge_probs_cal = fuse_edge(wire, edge_probs_cal, fusion)
    e_cls, e_top, _ = top2(edge_probs_cal)
    c_cls = np.asarray(cloud_probs).argmax(axis=1)
    on_device = device_accepts(d_top, d_margin, complexity, th)
    on_edge = ~on_device & (e_top >= th.edge_confidence)
    tier = np.where(on_device, TIER_DEVICE, np.where(on_edge, TIER_EDGE, TIER_CLOUD))
    pred = np.where(on_device, d_cls, np.where(on_edge, e_cls, c_cls))
    fused = ((tier == TIER_EDGE) & fusion.edge_fused) | ((tier == TIER_CLOUD) & fusion.cloud_fused)
    return CascadeOutcome(pred, tier, fused)


@dataclass(frozen=True)
class FallbackRule:
    """How often each degraded answer was right on calibration frames that left the
    device (``device``, ``edge``, ``last_good@<age in reports>``), best first in
    ``order``. The gateway answers a degraded frame from the first available source."""

    accuracy: Mapping[str, float]
    frames: int = 0

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(sorted(self.accuracy, key=lambda k: (-self.accuracy[k], k)))

    def best(self, available: set[str]) -> str | None:
        """The measured-best source among those available, or None."""
        return next((s for s in self.order if s in available), None)

    @classmethod
    def from_accuracy(cls, accuracy: Mapping[str, float], frames: int = 0) -> FallbackRule:
        return cls({str(k): round(float(v), 4) for k, v in accuracy.items()}, int(frames))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> FallbackRule:
        return cls.from_accuracy(dict(doc.get("accuracy", {})), int(doc.get("frames", 0)))

    def to_json(self) -> dict[str, Any]:
        return {"accuracy": dict(self.accuracy), "frames": self.frames,
                "order": list(self.order)}


#: The device's complexity signals: ``mean_abs_distance`` (the default, any tensor):
#: ``sum |x_i - mean_i| / (n * 255)`` over the int8 model input and the int8 mean input
#: of the calibration set; ``off``: the device reports 0 and never escalates for it.
COMPLEXITY_KINDS = ("mean_abs_distance", "off")


@dataclass(frozen=True)
class CascadeSettings:
    """The generated thresholds file, typed.

    ``mean_image`` is the uint8 (H, W) training mean of an image workload (MNIST's
    firmware header); ``mean_input`` the int8 mean of the mcu input tensor, the generic
    reference of the complexity signal (None in files that predate it: derived from
    ``mean_image`` through the mcu input quantization).
    """

    thresholds: Thresholds
    temperatures: Mapping[str, float]
    mean_image: np.ndarray | None = field(repr=False)
    objective: Mapping[str, Any]
    path: Path
    mean_input: np.ndarray | None = field(default=None, repr=False)
    complexity_kind: str = "mean_abs_distance"
    fallback: FallbackRule = field(default_factory=lambda: FallbackRule({}))
    fusion: Fusion = NO_FUSION
    #: The edge threshold the unfused cascade would use (calibration's baseline).
    unfused_edge_confidence: float | None = None

    def edge_stage(self, device_wire: np.ndarray, edge_probs: np.ndarray) -> np.ndarray:
        """The distribution the edge stage decides on: the temperature-scaled edge
        probabilities, pooled with the device's wire top-k (:func:`.fusion.report_probs`)
        where calibration chose fusion. Its top-1 is compared with ``edge_conf``."""
        return fuse_edge(np.atleast_2d(device_wire), self.edge_calibrated(edge_probs),
                         self.fusion)

    def device_calibrated(self, device_wire: np.ndarray) -> np.ndarray:
        """The device's wire view (:func:`.fusion.wire_probs` / ``report_probs``) scaled
        by the device tier's temperature: its top-1 is the calibrated confidence the
        live-accuracy estimate uses (the device itself decides on raw confidences)."""
        return apply_temperature(np.atleast_2d(device_wire), self.temperatures.get("mcu", 1.0))

    def edge_calibrated(self, edge_probs: np.ndarray) -> np.ndarray:
        return apply_temperature(np.atleast_2d(edge_probs), self.temperatures["edge"])

    def edge_accepts(self, edge_probs: np.ndarray) -> np.ndarray:
        """Raw edge probabilities (N, C) -> bool (N,): keep the edge answer?"""
        return self.edge_calibrated(edge_probs).max(axis=1) >= self.thresholds.edge_confidence

    def device_accepts(self, device_probs: np.ndarray, complexity: np.ndarray) -> np.ndarray:
        _, top, margin = top2(np.atleast_2d(device_probs))
        return device_accepts(top, margin, complexity, self.thresholds)


def parse_settings(doc: Mapping[str, Any], path: Path) -> CascadeSettings:
    try:
        t = doc["thresholds"]
        temps = {str(k): float(v) for k, v in doc["temperatures"].items()}
        order = tuple(str(x) for x in dict(doc.get("fallback", {})).get("order", ()))
        th = Thresholds(**{name: float(t[key]) for name, key in FILE_KEYS.items()},
                        edge_temperature=float(temps.get("edge", 1.0)), fallback_order=order)
        mean = (np.asarray(doc["mean_image"], dtype=np.uint8).reshape(doc["mean_image_shape"])
                if "mean_image" in doc else None)
        cx = dict(doc.get("complexity", {}))
        kind = str(cx.get("kind", "mean_abs_distance"))
        if kind not in COMPLEXITY_KINDS:
            raise ValueError(f"unknown complexity kind {kind!r}; expected {COMPLEXITY_KINDS}")
        mean_input = (np.asarray(cx["mean_input"], dtype=np.int8).reshape(cx["shape"])
                      if "mean_input" in cx else None)
        objective = dict(doc["objective"])
        fallback = FallbackRule.from_json(dict(doc.get("fallback", {})))
        fusion_doc = dict(doc.get("fusion", {}))
        fusion = Fusion.from_json(dict(fusion_doc.get("weights", {})))
        unfused = fusion_doc.get("unfused_edge_conf")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(path, f"malformed thresholds file: {exc!r}") from exc
    return CascadeSettings(th, temps, mean, objective, path, mean_input, kind, fallback, fusion,
                           None if unfused is None else float(unfused))


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



def resolve_thresholds(problems: Problems, *, file: str | Path | None = None,
                       table: Any = None, table_path: str = "thresholds",
                       env: Mapping[str, str] | None = None) -> Thresholds:
    """The thresholds a process runs with: defaults < ``file`` < ``table`` < ``env``.

    Every bad value is added to ``problems`` under the path it came from (the file's
    path, ``thresholds.edge_confidence``, ``EC_THRESHOLD_EDGE_CONFIDENCE``); the
    defaults are returned then.
    """
    from edgecascade.config import from_text, scalar, unknown_keys

    values = asdict(Thresholds())
    origin = {k: f"{table_path}.{k}" for k in values}
    if file is not None:
        try:
            from_file = asdict(load_settings(file).thresholds)
            from_file.pop("edge_margin")  # not calibrated: the file has no edge margin
            values.update(from_file)
        except ModelError as exc:
            problems.add(str(file), exc.problem)
    hints = typing.get_type_hints(Thresholds)
    if isinstance(table, Mapping):
        unknown_keys(table, set(values), table_path, problems)
        for key, value in table.items():
            if key in values:
                checked = scalar(value, hints[key], f"{table_path}.{key}", problems)
                if checked is not None:
                    values[key] = checked
    elif table is not None:
        problems.add(table_path, f"expected a table, got {type(table).__name__}")
    for key in list(values):
        name = ENV_PREFIX + key.upper()
        if env is not None and env.get(name):
            checked = from_text(env[name], hints[key], name, problems)
            if checked is not None:
                values[key] = checked
                origin[key] = name
    try:
        return Thresholds(**values)
    except ThresholdsError as exc:
        for key, why in exc.problems:
            problems.add(origin[key], why)
        return Thresholds()
