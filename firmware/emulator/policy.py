"""Python twin of ``firmware/core/ec_policy.c``: what the device reports and whether
it attaches the frame. Pure functions; results are bit-identical to the C core.

The rules (float32 arithmetic throughout, as the MCU computes them):

* confidence of an int8 output ``q``: ``c = float32(q - zero_point) * float32(scale)``,
  then :func:`edgecascade.protocol.confidence_to_wire` (clamp 0..1, ``c*65535 + 0.5``).
* :func:`topk`: highest ``q`` first, ties broken by the lower class index.
* :func:`complexity`: ``float32(sum |x_i - mean_i|) / float32(n * 255)``, the sum exact.
* :func:`attach_reason`: ``low_confidence`` when top-1 < conf threshold, else
  ``small_margin`` when top-1 - top-2 < margin threshold (top-2 is the second
  confidence *sent*, 0 when k == 1: the margin the gateway computes, ``Report.margin``),
  else ``complex_input`` when complexity > limit, else ``None`` (keep the answer).
  Thresholds are compared in fixed point: each is converted once with
  ``confidence_to_wire``. :class:`Thresholds` is the project's one thresholds type
  (:mod:`edgecascade.models.cascade`); the device reads its ``device_*`` fields and
  ``complexity_limit``.

Typical use (what :func:`decide` bundles)::

    th = Thresholds(0.9, 0.25, 0.35)
    d = decide(output_q, out_scale, out_zp, k=3, pixels=px, mean=mean, thresholds=th)
    d.classes, d.confidences, d.complexity, d.attach, d.reason
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from edgecascade.models.cascade import Thresholds
from edgecascade.protocol import Reason, confidence_to_wire
from edgecascade.protocol.audit import audit_pick
from edgecascade.protocol.limits import MAX_TOPK

#: Grammar of threshold values on the provisioning line (firmware/README.md).
THRESHOLD_PATTERN = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,9})?$")


def parse_threshold(text: str) -> float:
    """A provisioning decimal as the firmware parses it (``ec_parse_decimal``).

    Raises ``ValueError`` when ``text`` does not match :data:`THRESHOLD_PATTERN`.
    """
    if not THRESHOLD_PATTERN.match(text):
        raise ValueError(f"not a decimal of the form {THRESHOLD_PATTERN.pattern}: {text!r:.40}")
    return float(np.float32(float(text)))


def conf_u16(thresholds: Thresholds) -> int:
    """The confidence threshold in wire fixed point, as the firmware compares it."""
    return confidence_to_wire(thresholds.device_confidence)


def margin_u16(thresholds: Thresholds) -> int:
    return confidence_to_wire(thresholds.device_margin)


def confidence_from_q(q: int, scale: float, zero_point: int) -> int:
    """Fixed-point confidence of one int8 output (``ec_confidence_from_q``)."""
    c = np.float32(int(q) - int(zero_point)) * np.float32(scale)
    return confidence_to_wire(float(c))


def topk(
    output_q: np.ndarray, scale: float, zero_point: int, k: int
) -> tuple[list[int], list[int]]:
    """Top-k classes (highest q first, ties -> lower index) and their confidences."""
    q = np.asarray(output_q).reshape(-1).astype(np.int64)
    if q.size == 0 or q.size > 255 or k < 1:
        raise ValueError(f"need 1..255 outputs and k >= 1, got {q.size} outputs, k={k}")
    k = min(k, MAX_TOPK, int(q.size))
    order = sorted(range(int(q.size)), key=lambda i: (-int(q[i]), i))[:k]
    return order, [confidence_from_q(int(q[i]), scale, zero_point) for i in order]


def complexity(pixels: np.ndarray, mean: np.ndarray) -> float:
    """Novelty of a uint8 frame against the uint8 training mean (``ec_complexity``)."""
    x = np.asarray(pixels, dtype=np.uint8).ravel().astype(np.int64)
    m = np.asarray(mean, dtype=np.uint8).ravel().astype(np.int64)
    if x.size != m.size:
        raise ValueError(f"frame has {x.size} pixels, mean image has {m.size}")
    if x.size == 0:
        return 0.0
    total = int(np.abs(x - m).sum())
    return float(np.float32(total) / np.float32(x.size * 255))


def complexity_q(x: np.ndarray, mean: np.ndarray) -> float:
    """The generic complexity signal over any int8 input tensor (``ec_complexity_q``):
    ``float32(sum |x_i - mean_i|) / float32(n * 255)``, the sum exact; ``mean`` is the
    int8 mean input of the calibration set. For raw-pixel images quantized with
    scale 1/255 and zero point -128 it equals :func:`complexity` on the pixels."""
    a = np.asarray(x, dtype=np.int8).ravel().astype(np.int64)
    m = np.asarray(mean, dtype=np.int8).ravel().astype(np.int64)
    if a.size != m.size:
        raise ValueError(f"input has {a.size} values, mean input has {m.size}")
    if a.size == 0:
        return 0.0
    total = int(np.abs(a - m).sum())
    return float(np.float32(total) / np.float32(a.size * 255))


def attach_reason(
    confidences: tuple[int, ...] | list[int], complexity_score: float, thresholds: Thresholds
) -> Reason | None:
    """Why the device attaches its frame, or ``None`` when it keeps its answer."""
    top1 = int(confidences[0])
    top2 = int(confidences[1]) if len(confidences) > 1 else 0
    if top1 < conf_u16(thresholds):
        return Reason.LOW_CONFIDENCE
    if top1 - top2 < margin_u16(thresholds):
        return Reason.SMALL_MARGIN
    if np.float32(complexity_score) > np.float32(thresholds.complexity_limit):
        return Reason.COMPLEX_INPUT
    return None


def audit_reason(reason: Reason | None, device_id: str, epoch: int, seq: int,
                 audit_share: int) -> Reason | None:
    """After :func:`attach_reason` (``ec_policy_audit``): a confident report of the audited
    subset attaches its frame with reason ``audit``; any other reason stands."""
    if reason is None and audit_pick(device_id, epoch, seq, audit_share):
        return Reason.AUDIT
    return reason


@dataclass(frozen=True)
class AttachDecision:
    """One inference's report content and attach decision (``ec_decision_t``)."""

    classes: tuple[int, ...]
    confidences: tuple[int, ...]
    complexity: float
    reason: Reason | None  # None: confident, no frame attached

    @property
    def attach(self) -> bool:
        return self.reason is not None

    @property
    def reason_name(self) -> str:
        """The C ``ec_reason_name``: ``"confident"`` when nothing is attached."""
        return (self.reason or Reason.CONFIDENT).value


def decide(
    output_q: np.ndarray,
    scale: float,
    zero_point: int,
    k: int,
    pixels: np.ndarray,
    mean: np.ndarray,
    thresholds: Thresholds,
) -> AttachDecision:
    """Everything ``ec_policy_decide`` computes for one inference."""
    if not scale > 0:
        raise ValueError(f"output scale must be > 0, got {scale!r}")
    classes, confidences = topk(output_q, scale, zero_point, k)
    score = complexity(pixels, mean)
    return AttachDecision(
        tuple(classes), tuple(confidences), score, attach_reason(confidences, score, thresholds)
    )


#: Alias with the name used in the brief.
decide_attach = decide


def quantize_pixels(pixels: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """uint8 pixels -> the model's int8 input, as ``ec_quantize_pixels`` does it."""
    p = np.asarray(pixels, dtype=np.uint8).astype(np.float32)
    v = (p / np.float32(255.0)) / np.float32(scale)
    q = np.floor(v + np.float32(0.5)).astype(np.int64) + int(zero_point)
    return np.clip(q, -128, 127).astype(np.int8)
