"""Measure which degraded answer is most often right (pure; feeds ``thresholds.json``).

When a frame has left the device and neither the edge nor the cloud answers, the
gateway can fall back on the device's own answer, or on the stream's last confirmed
("last-good") answer. Which is better is a fact about the workload: for independent
frames (MNIST digits) the device's answer; for a slowly changing stream (an activity)
the last-good answer may be. Calibration measures, on the frames that leave the device
under the chosen thresholds, how often each source is right, and records the order.
"""

from __future__ import annotations

import numpy as np

from edgecascade.models.calibration import apply_temperature
from edgecascade.models.cascade import FallbackRule, Thresholds, device_accepts, top2

from .outputs import TierOutputs


def measure_fallback(out: TierOutputs, temps: dict[str, float], th: Thresholds,
                     groups: np.ndarray | None = None, max_age: int = 4) -> FallbackRule:
    """Accuracy of each fallback source on the frames that leave the device.

    ``last_good@k`` is the answer the cascade gave to the frame ``k`` steps earlier in
    the same stream (``groups``: samples stored in time order). Without groups the
    samples are independent frames (the emulator walks them by a stride), so the stream
    is a fixed shuffle of the split, not its stored (possibly label-sorted) order."""
    labels = out.labels
    if groups is None:
        perm = np.random.default_rng(0).permutation(len(labels))
        shuffled = TierOutputs(out.split, labels[perm], out.complexity[perm],
                               {t: p[perm] for t, p in out.probs.items()})
        return measure_fallback(shuffled, temps, th, np.zeros(len(labels), np.int64), max_age)
    d_cls, d_top, d_margin = top2(out.probs["mcu"])
    leaves = ~device_accepts(d_top, d_margin, out.complexity, th)
    e_cls = apply_temperature(out.probs["edge"], temps["edge"]).argmax(1)
    final = np.where(~leaves, d_cls, out.probs["cloud"].argmax(1))  # confirmed answers
    g = groups
    idx = np.flatnonzero(leaves)
    acc: dict[str, float] = {}
    if idx.size:
        acc["device"] = float((d_cls[idx] == labels[idx]).mean())
        acc["edge"] = float((e_cls[idx] == labels[idx]).mean())
        for k in range(1, max_age + 1):
            ok = idx[(idx >= k)]
            ok = ok[g[ok] == g[ok - k]]
            if ok.size:
                acc[f"last_good@{k}"] = float((final[ok - k] == labels[ok]).mean())
    return FallbackRule.from_accuracy(acc, int(idx.size))
