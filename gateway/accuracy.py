"""Live accuracy without labels (pure): audit agreement, calibrated confidence, combined.

Two label-free signals are kept per device and per model version:

* **Audit agreement.** A confident device answer whose frame was attached for an audit
  (reason ``audit``, :mod:`edgecascade.protocol.audit`) is also answered by the tier
  above; ``device~edge`` (or ``device~cloud``) agreement is counted over a sliding
  window of the last :attr:`AccuracyConfig.window` audits and since the device's last
  model change (a new ``model_version`` starts new counts), with Wilson intervals.
* **Calibrated confidence.** Every final answer's temperature-scaled top-1 confidence
  is the probability it is right if the tier is calibrated; its mean over a window is
  the tier's expected accuracy, give or take the calibration error measured on the
  calibration split (``systematic``, from the thresholds file's ECE).

**Combined estimate.** The cascade's accuracy is ``sum_t share_t * acc_t`` over the
tiers that answered. A tier's accuracy is its expected accuracy; for the device tier,
where audits measure it, the audit agreement and the expected accuracy are pooled by
inverse variance. The interval is ``estimate +- z * sqrt(sum_t share_t^2 var_t)``.
No I/O, no clocks: the shell feeds answers and audits in and reads :meth:`snapshot`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

Z95 = 1.959964
TIERS = ("device", "edge", "cloud")
#: Answers that are not a tier's own fresh judgement: a cache hit (an earlier edge or
#: cloud answer reused: the edge's calibration error) and a degraded local answer (the
#: largest calibration error known). They count with their own confidence.
OTHER = ("cache", "degraded")
#: The pairs an audit compares: the answering tier ~ the tier above.
PAIRS = ("device~edge", "device~cloud", "edge~cloud")


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval over ``n`` observations."""

    estimate: float
    lo: float
    hi: float
    n: int

    def covers(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def to_json(self) -> dict[str, float | int]:
        return {"estimate": round(self.estimate, 5), "lo": round(self.lo, 5),
                "hi": round(self.hi, 5), "n": self.n}


def wilson(k: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval of ``k`` successes in ``n`` trials (n 0: the whole 0..1)."""
    if n <= 0:
        return Interval(math.nan, 0.0, 1.0, 0)
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


@dataclass(frozen=True)
class AccuracyConfig:
    window: int = 200  # audits in the sliding agreement window
    answers_window: int = 5000  # answers in the sliding share / confidence window
    #: Calibration error of each tier's calibrated confidence (thresholds file ECE):
    #: the systematic part of a confidence-based estimate's uncertainty.
    systematic: Mapping[str, float] = field(default_factory=dict)
    z: float = Z95


@dataclass
class _Agreement:
    window: deque[bool]
    agree: int = 0  # since the model change
    total: int = 0

    def add(self, ok: bool) -> None:
        self.window.append(ok)
        self.agree += ok
        self.total += 1

    def windowed(self, z: float) -> Interval:
        return wilson(sum(self.window), len(self.window), z)

    def since_change(self, z: float) -> Interval:
        return wilson(self.agree, self.total, z)


@dataclass
class _Answers:
    """A sliding window of (tier, calibrated confidence) answers."""

    items: deque[tuple[str, float]]

    def add(self, tier: str, confidence: float) -> None:
        self.items.append((tier, min(max(confidence, 0.0), 1.0)))


@dataclass(frozen=True)
class TierView:
    share: float
    expected: Interval  # from calibrated confidence
    used: Interval  # what the combined estimate uses (audits pooled in, for the device)


@dataclass(frozen=True)
class ScopeView:
    """One device (or the site): agreement per pair, per tier, combined."""

    agreement: dict[str, Interval]  # pair -> sliding window
    agreement_since_change: dict[str, Interval]  # pair -> since the model change
    tiers: dict[str, TierView]
    estimate: Interval  # the cascade's live accuracy
    model_version: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "estimate": self.estimate.to_json(),
            "agreement": {k: v.to_json() for k, v in self.agreement.items()},
            "agreement_since_model_change": {k: v.to_json()
                                             for k, v in self.agreement_since_change.items()},
            "tiers": {t: {"share": round(v.share, 5), "expected": v.expected.to_json(),
                          "used": v.used.to_json()} for t, v in self.tiers.items()},
            "model_version": self.model_version,
        }


def _expected(confs: list[float], systematic: float, z: float) -> Interval:
    """Mean calibrated confidence, +- sampling and the tier's calibration error."""
    n = len(confs)
    if n == 0:
        return Interval(math.nan, 0.0, 1.0, 0)
    m = sum(confs) / n
    var = m * (1 - m) / n + systematic * systematic
    half = z * math.sqrt(var)
    return Interval(m, max(0.0, m - half), min(1.0, m + half), n)


def _variance(iv: Interval, z: float) -> float:
    return ((iv.hi - iv.lo) / (2 * z)) ** 2


def _pool(a: Interval, b: Interval, z: float) -> Interval:
    """Inverse-variance pooling of a measurement ``a`` (audits) and a model-based
    estimate ``b`` (calibrated confidence) of one quantity. When they contradict each
    other (differ by more than ``z`` combined standard errors) the model's estimate is
    evidently off (drift: confidence no longer means what it meant on the calibration
    split) and the measurement alone is used."""
    if a.n == 0 or math.isnan(a.estimate):
        return b
    if b.n == 0 or math.isnan(b.estimate):
        return a
    va, vb = max(_variance(a, z), 1e-12), max(_variance(b, z), 1e-12)
    if abs(a.estimate - b.estimate) > z * math.sqrt(va + vb):
        return a
    w = (1 / va) + (1 / vb)
    est = (a.estimate / va + b.estimate / vb) / w
    half = z * math.sqrt(1 / w)
    return Interval(est, max(0.0, est - half), min(1.0, est + half), a.n + b.n)


def combine(answers: list[tuple[str, float]], audits: Mapping[str, Interval],
            cfg: AccuracyConfig) -> tuple[dict[str, TierView], Interval]:
    """The per-tier views and the cascade's estimate from a window of answers."""
    n = len(answers)
    tiers: dict[str, TierView] = {}
    if n == 0:
        return tiers, Interval(math.nan, 0.0, 1.0, 0)
    est, var = 0.0, 0.0
    worst = max([float(v) for v in cfg.systematic.values()] or [0.0])
    for tier in (*TIERS, *OTHER):
        confs = [c for t, c in answers if t == tier]
        if not confs:
            continue
        share = len(confs) / n
        # a cache hit reuses an edge (mostly) or cloud answer: the edge's calibration error
        fallback = cfg.systematic.get("edge", worst) if tier == "cache" else worst
        expected = _expected(confs, float(cfg.systematic.get(tier, fallback)), cfg.z)
        used = expected
        ref = audits.get(f"{tier}~edge") if tier == "device" else audits.get(f"{tier}~cloud")
        if tier == "device" and (ref is None or ref.n == 0):
            ref = audits.get("device~cloud")
        if ref is not None and ref.n > 0:
            used = _pool(ref, expected, cfg.z)
        tiers[tier] = TierView(share, expected, used)
        est += share * used.estimate
        var += share * share * _variance(used, cfg.z)
    half = cfg.z * math.sqrt(var)
    return tiers, Interval(est, max(0.0, est - half), min(1.0, est + half), n)


class LiveAccuracy:
    """Per-device and site-wide live accuracy. Not thread-safe: the shell serialises."""

    def __init__(self, cfg: AccuracyConfig | None = None) -> None:
        self.cfg = cfg or AccuracyConfig()
        self._agreement: dict[tuple[str, str], _Agreement] = {}  # (device, pair)
        self._since: dict[tuple[str, int, str], _Agreement] = {}  # (device, version, pair)
        self._version: dict[str, int] = {}
        self._answers: dict[str, _Answers] = {}
        self._site_answers = _Answers(deque(maxlen=self.cfg.answers_window))
        self._site_agreement: dict[str, _Agreement] = {}

    def answered(self, device_id: str, model_version: int, tier: str,
                 confidence: float) -> None:
        """One final answer with the answering tier's calibrated top-1 confidence
        (``tier``: device, edge, cloud, or cache / degraded)."""
        if tier not in TIERS and tier not in OTHER:
            raise ValueError(f"unknown answer kind {tier!r}")
        self._note_version(device_id, model_version)
        a = self._answers.get(device_id)
        if a is None:
            a = self._answers[device_id] = _Answers(deque(maxlen=self.cfg.answers_window))
        a.add(tier, confidence)
        self._site_answers.add(tier, confidence)

    def audited(self, device_id: str, model_version: int, pair: str, agree: bool) -> None:
        """One audit: did the answering tier agree with the tier above?"""
        if pair not in PAIRS:
            raise ValueError(f"unknown audit pair {pair!r}; expected one of {PAIRS}")
        self._note_version(device_id, model_version)
        key = (device_id, pair)
        if key not in self._agreement:
            self._agreement[key] = _Agreement(deque(maxlen=self.cfg.window))
        self._agreement[key].add(agree)
        since = (device_id, self._version[device_id], pair)
        if since not in self._since:
            self._since[since] = _Agreement(deque(maxlen=1))
        self._since[since].add(agree)
        if pair not in self._site_agreement:
            self._site_agreement[pair] = _Agreement(deque(maxlen=self.cfg.window))
        self._site_agreement[pair].add(agree)

    def _note_version(self, device_id: str, version: int) -> None:
        old = self._version.get(device_id)
        if old is not None and old != version:
            # a model change: the window restarts (the since-change counts are per version)
            for pair in PAIRS:
                self._agreement.pop((device_id, pair), None)
        self._version[device_id] = version

    def devices(self) -> list[str]:
        return sorted(set(self._answers) | {d for d, _ in self._agreement})

    def device(self, device_id: str) -> ScopeView:
        z = self.cfg.z
        version = self._version.get(device_id)
        windows = {p: a.windowed(z) for (d, p), a in self._agreement.items() if d == device_id}
        since = {p: a.since_change(z) for (d, v, p), a in self._since.items()
                 if d == device_id and v == version}
        answers = list(self._answers[device_id].items) if device_id in self._answers else []
        tiers, est = combine(answers, windows, self.cfg)
        return ScopeView(windows, since, tiers, est, version)

    def site(self) -> ScopeView:
        z = self.cfg.z
        windows = {p: a.windowed(z) for p, a in self._site_agreement.items()}
        since = {p: a.since_change(z) for p, a in self._site_agreement.items()}
        tiers, est = combine(list(self._site_answers.items), windows, self.cfg)
        return ScopeView(windows, since, tiers, est)

    def snapshot(self) -> dict[str, object]:
        """The JSON state: the site and every device."""
        return {"site": self.site().to_json(),
                "devices": {d: self.device(d).to_json() for d in self.devices()}}
