"""Device and gateway decide the same way at the exact threshold, on the wire (issue 23).

The device (firmware/core/ec_policy.c; its bit-identical twin firmware/emulator/policy.py)
compares its fixed-point confidences with the thresholds converted once to fixed point,
and the complexity in float32. The gateway reads the same integers off the wire and must
keep exactly the frames the device kept: before, it compared the decoded float with the
float threshold and escalated frames the device had kept at the boundary (7 of 1,500 in
the report)."""

from __future__ import annotations

import numpy as np

from edgecascade.emulator.policy import attach_reason, conf_u16, margin_u16
from edgecascade.gateway.config import Thresholds
from edgecascade.gateway.policy import device_escalation
from edgecascade.protocol import Reason, Report, decode, encode


def on_the_wire(top1: int, top2: int, complexity: float) -> Report:
    sent = Report(device_id="cam1", epoch=1, seq=0, ts_ms=1_700_000_000_000,
                  model_id="synth-mcu", model_version=1, classes=(2, 0),
                  confidences=(top1, top2), complexity=complexity)
    return decode(Report, encode(sent))  # the bytes the gateway receives


def both(top1: int, top2: int, complexity: float, th: Thresholds) -> tuple[object, object]:
    device = attach_reason((top1, top2), complexity, th)
    return device, device_escalation(on_the_wire(top1, top2, complexity), th)


def test_confidence_exactly_at_the_threshold_is_kept_by_both() -> None:
    float_rule_disagrees = 0
    for t in np.round(np.arange(0.5, 0.99, 0.0007), 4):
        th = Thresholds(float(t), 0.0, 1.0)
        at = conf_u16(th)
        assert both(at, 0, 0.0, th) == (None, None), t
        assert both(at - 1, 0, 0.0, th) == (Reason.LOW_CONFIDENCE,) * 2, t
        float_rule_disagrees += on_the_wire(at, 0, 0.0).confidence < th.device_confidence
    assert float_rule_disagrees > 0  # the thresholds where the old float rule went wrong


def test_margin_exactly_at_the_threshold_is_kept_by_both() -> None:
    for m in np.round(np.arange(0.01, 0.5, 0.0013), 4):
        th = Thresholds(0.0, float(m), 1.0)
        top2 = 1000
        at = top2 + margin_u16(th)
        assert both(at, top2, 0.0, th) == (None, None), m
        assert both(at - 1, top2, 0.0, th) == (Reason.SMALL_MARGIN,) * 2, m


def test_complexity_exactly_at_the_limit_is_kept_by_both() -> None:
    for limit in (0.35, 0.1, 0.3333333, 0.27):
        th = Thresholds(0.0, 0.0, limit)
        at = float(np.float32(limit))  # what a float32 device computes and the wire carries
        above = float(np.nextafter(np.float32(limit), np.float32(1)))
        assert both(60000, 0, at, th) == (None, None), limit
        assert both(60000, 0, above, th) == (Reason.COMPLEX_INPUT,) * 2, limit
