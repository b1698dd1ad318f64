"""Drift alarms (pure): a device's confidence distribution and audit agreement vs calibration.

Two signals, each per device and for the whole site:

* **Distribution drift.** The population stability index (PSI) of the device's top-1
  confidence (and, where reports carry it, complexity) over its last ``window`` reports
  against the calibration split's histogram (the thresholds file's ``monitoring``
  table)::

      PSI = sum_i (p_i - q_i) * ln(p_i / q_i)     (p: live, q: calibration; floored)

  The alarm rises when PSI >= ``psi_alarm`` and clears when it falls below
  ``psi_clear`` (hysteresis), checked every ``check_every`` reports once the window is
  full.
* **Agreement drift.** Audit agreement (``device~edge``) whose Wilson upper bound falls
  below the agreement measured on the calibration split minus ``agreement_tolerance``.

:meth:`DriftMonitor.observe` and :meth:`DriftMonitor.agreement` return the alarm
transitions (:class:`AlarmChange`); the shell turns them into metrics, JSON state and
rate-limited log lines. No I/O, no clocks: "when" is the report count.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SITE = "*site*"  # the scope name of the whole site's alarms
KINDS = ("confidence", "complexity", "agreement")


@dataclass(frozen=True)
class Reference:
    """One signal's calibration histogram: bin edges (inner) and proportions."""

    edges: tuple[float, ...]
    proportions: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.proportions) != len(self.edges) + 1:
            raise ValueError(f"{len(self.edges)} edges need {len(self.edges) + 1} "
                             f"proportions, got {len(self.proportions)}")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("reference edges must increase")

    @classmethod
    def fit(cls, values: np.ndarray, bins: int = 10) -> Reference:
        """Quantile bins of the calibration values (repeated quantiles merged). Values
        are often discrete (int8 softmax steps), so each edge sits halfway between a
        quantile and the next smaller value seen: a value is binned the same way after
        the wire's rounding."""
        v = np.asarray(values, dtype=np.float64)
        uniq = np.unique(v)
        qs = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1]))
        below = np.searchsorted(uniq, qs, side="left")
        qs = np.unique([(uniq[i - 1] + q) / 2 for i, q in zip(below, qs, strict=True) if i > 0])
        counts = np.bincount(np.searchsorted(qs, v, side="right"), minlength=len(qs) + 1)
        return cls(tuple(float(x) for x in qs), tuple(float(c) / len(v) for c in counts))

    def to_json(self) -> dict[str, list[float]]:
        return {"edges": [round(e, 7) for e in self.edges],
                "proportions": [round(p, 6) for p in self.proportions]}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Reference:
        return cls(tuple(float(x) for x in doc["edges"]),
                   tuple(float(x) for x in doc["proportions"]))


PSI_FLOOR = 1e-3  # proportions below it count as it (empty bins)


def psi(values: Sequence[float], ref: Reference) -> float:
    """Population stability index of ``values`` against ``ref``."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return 0.0
    counts = np.bincount(np.searchsorted(np.asarray(ref.edges), v, side="right"),
                         minlength=len(ref.proportions))
    p = np.maximum(counts / v.size, PSI_FLOOR)
    q = np.maximum(np.asarray(ref.proportions), PSI_FLOOR)
    return float(((p - q) * np.log(p / q)).sum())


@dataclass(frozen=True)
class Monitoring:
    """The calibration split's reference (the thresholds file's ``monitoring`` table)."""

    confidence: Reference | None = None
    complexity: Reference | None = None
    agreement: Mapping[str, float] = field(default_factory=dict)  # pair -> calibrated rate

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Monitoring:
        def ref(key: str) -> Reference | None:
            return Reference.from_json(doc[key]) if key in doc else None

        return cls(ref("confidence"), ref("complexity"),
                   {str(k): float(v) for k, v in dict(doc.get("agreement", {})).items()})


@dataclass(frozen=True)
class DriftConfig:
    window: int = 200  # reports per device in the PSI window
    site_window: int = 2000
    check_every: int = 25  # reports between PSI checks
    psi_alarm: float = 0.25
    psi_clear: float = 0.10
    agreement_tolerance: float = 0.02
    min_audits: int = 20  # audits before the agreement test speaks


@dataclass(frozen=True)
class AlarmChange:
    scope: str  # a device id, or SITE
    kind: str  # confidence | complexity | agreement
    firing: bool
    value: float  # the PSI, or the agreement's upper bound
    at: int  # reports the scope had seen when it changed


@dataclass
class _Scope:
    window: int
    seen: int = 0
    values: dict[str, deque[float]] = field(default_factory=dict)
    psi: dict[str, float] = field(default_factory=dict)
    firing: dict[str, bool] = field(default_factory=dict)
    fired_at: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, v: float) -> None:
        if kind not in self.values:
            self.values[kind] = deque(maxlen=self.window)
        self.values[kind].append(v)


class DriftMonitor:
    """Per-device and site drift state. Not thread-safe: the shell serialises calls."""

    def __init__(self, reference: Monitoring, cfg: DriftConfig | None = None) -> None:
        self.ref = reference
        self.cfg = cfg or DriftConfig()
        self._scopes: dict[str, _Scope] = {}

    def _scope(self, name: str) -> _Scope:
        s = self._scopes.get(name)
        if s is None:
            size = self.cfg.site_window if name == SITE else self.cfg.window
            s = self._scopes[name] = _Scope(size)
        return s

    def observe(self, device_id: str, confidence: float,
                complexity: float | None = None) -> list[AlarmChange]:
        """One report's top-1 confidence (and complexity): the alarms that changed."""
        out: list[AlarmChange] = []
        for name in (device_id, SITE):
            s = self._scope(name)
            s.seen += 1
            s.add("confidence", confidence)
            if complexity is not None and math.isfinite(complexity):
                s.add("complexity", complexity)
            if s.seen % self.cfg.check_every == 0:
                out.extend(self._check(name, s))
        return out

    def _check(self, name: str, s: _Scope) -> list[AlarmChange]:
        out = []
        for kind, ref in (("confidence", self.ref.confidence),
                          ("complexity", self.ref.complexity)):
            vals = s.values.get(kind)
            if ref is None or vals is None or len(vals) < s.window:
                continue
            value = psi(list(vals), ref)
            s.psi[kind] = value
            out.extend(self._set(name, s, kind, value, value >= self.cfg.psi_alarm,
                                 value < self.cfg.psi_clear))
        return out

    def _set(self, name: str, s: _Scope, kind: str, value: float, fire: bool,
             clear: bool) -> list[AlarmChange]:
        was = s.firing.get(kind, False)
        if fire and not was:
            s.firing[kind] = True
            s.fired_at[kind] = s.seen
            return [AlarmChange(name, kind, True, value, s.seen)]
        if was and clear:
            s.firing[kind] = False
            return [AlarmChange(name, kind, False, value, s.seen)]
        return []

    def agreement(self, scope: str, pair: str, agree: int, audits: int,
                  upper: float) -> list[AlarmChange]:
        """The audit agreement of a device (or SITE) against its calibrated rate: fires
        when the Wilson upper bound ``upper`` is below it minus the tolerance."""
        expected = self.ref.agreement.get(pair)
        if expected is None or audits < self.cfg.min_audits:
            return []
        s = self._scope(scope)
        low = upper < expected - self.cfg.agreement_tolerance
        return self._set(scope, s, "agreement", upper, low, not low)

    def state(self) -> dict[str, object]:
        """JSON state: per scope, each signal's last PSI and whether it fires."""
        out: dict[str, object] = {}
        for name, s in sorted(self._scopes.items()):
            out["site" if name == SITE else name] = {
                "reports": s.seen,
                "psi": {k: round(v, 4) for k, v in s.psi.items()},
                "firing": {k: v for k, v in s.firing.items() if v},
                "fired_at_report": {k: s.fired_at[k] for k, v in s.firing.items() if v},
            }
        return out

    def firing(self) -> list[tuple[str, str]]:
        """(scope, kind) of every alarm now firing (scope ``site`` for the site)."""
        return [("site" if n == SITE else n, k) for n, s in sorted(self._scopes.items())
                for k, v in sorted(s.firing.items()) if v]
