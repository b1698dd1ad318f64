"""Live accuracy (gateway/accuracy.py) and drift alarms (gateway/drift.py): the pure cores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgecascade.gateway.accuracy import (
    AccuracyConfig,
    Interval,
    LiveAccuracy,
    combine,
    wilson,
)
from edgecascade.gateway.drift import (
    SITE,
    DriftConfig,
    DriftMonitor,
    Monitoring,
    Reference,
    psi,
)


def test_wilson_interval_values() -> None:
    iv = wilson(5, 10)
    assert iv.estimate == 0.5
    assert iv.lo == pytest.approx(0.2366, abs=1e-4) and iv.hi == pytest.approx(0.7634, abs=1e-4)
    full = wilson(20, 20)
    assert full.hi == 1.0 and full.lo == pytest.approx(0.8389, abs=1e-4)
    none = wilson(0, 0)
    assert none.n == 0 and none.lo == 0.0 and none.hi == 1.0 and math.isnan(none.estimate)


def test_agreement_windows_and_model_change() -> None:
    acc = LiveAccuracy(AccuracyConfig(window=10))
    for i in range(30):
        acc.audited("d1", 1, "device~edge", i % 5 != 0)  # 80% agree
    v = acc.device("d1")
    assert v.agreement["device~edge"].n == 10  # the sliding window
    assert v.agreement_since_change["device~edge"].n == 30
    assert v.agreement_since_change["device~edge"].estimate == pytest.approx(0.8)
    acc.audited("d1", 2, "device~edge", False)  # a new model version
    v = acc.device("d1")
    assert v.model_version == 2
    assert v.agreement["device~edge"].n == 1 and v.agreement["device~edge"].estimate == 0.0
    assert v.agreement_since_change["device~edge"].n == 1
    assert acc.site().agreement["device~edge"].n == 10  # the site window goes on
    with pytest.raises(ValueError, match="unknown audit pair"):
        acc.audited("d1", 2, "device~moon", True)


def test_combined_estimate_weights_tiers_by_share() -> None:
    cfg = AccuracyConfig(systematic={"device": 0.0, "edge": 0.0, "cloud": 0.0})
    answers = [("device", 0.99)] * 80 + [("edge", 0.9)] * 15 + [("cloud", 0.8)] * 5
    tiers, est = combine(answers, {}, cfg)
    assert tiers["device"].share == pytest.approx(0.8)
    assert est.estimate == pytest.approx(0.8 * 0.99 + 0.15 * 0.9 + 0.05 * 0.8)
    assert est.lo < est.estimate < est.hi
    # audits agreeing with the confidence tighten the device tier's interval
    tiers2, _ = combine(answers, {"device~edge": wilson(99, 100)}, cfg)
    assert (tiers2["device"].used.hi - tiers2["device"].used.lo) < \
        (tiers["device"].expected.hi - tiers["device"].expected.lo)
    # audits contradicting the confidence win: the model's own estimate is off
    tiers3, est3 = combine(answers, {"device~edge": wilson(60, 100)}, cfg)
    assert tiers3["device"].used.estimate == pytest.approx(0.6)
    assert est3.estimate < est.estimate - 0.2


def test_snapshot_is_json_with_every_device() -> None:
    import json

    acc = LiveAccuracy()
    acc.answered("a", 1, "device", 0.97)
    acc.answered("b", 3, "edge", 0.9)
    acc.answered("b", 3, "cache", 1.0)  # an earlier answer reused: its own kind
    snap = acc.snapshot()
    json.dumps(snap)
    assert set(snap["devices"]) == {"a", "b"}  # type: ignore[arg-type]
    assert acc.device("b").tiers["edge"].share == 0.5
    assert acc.device("b").tiers["cache"].share == 0.5
    with pytest.raises(ValueError, match="unknown answer kind"):
        acc.answered("b", 3, "oracle", 1.0)


def _ref() -> tuple[Reference, np.random.Generator]:
    rng = np.random.default_rng(0)
    levels = np.arange(200, 256) / 256  # an int8 softmax's confidence steps
    base = rng.choice(levels, 5000, p=np.linspace(1, 8, len(levels)) / np.linspace(
        1, 8, len(levels)).sum())
    return Reference.fit(base), rng


def test_reference_bins_survive_the_wire_rounding() -> None:
    ref, _ = _ref()
    v = np.arange(200, 256) / 256
    wire = np.round(v * 65535) / 65535  # what a report carries
    assert np.array_equal(np.searchsorted(ref.edges, v, side="right"),
                          np.searchsorted(ref.edges, wire, side="right"))
    assert sum(ref.proportions) == pytest.approx(1.0)
    assert Reference.from_json(ref.to_json()).edges == pytest.approx(ref.edges)
    with pytest.raises(ValueError):
        Reference((0.5, 0.4), (0.3, 0.3, 0.4))


def test_drift_alarm_fires_on_shift_and_not_on_the_reference() -> None:
    ref, rng = _ref()
    levels = np.arange(200, 256) / 256
    p = np.linspace(1, 8, len(levels))
    mon = DriftMonitor(Monitoring(confidence=ref), DriftConfig(window=200, check_every=25))
    changes = []
    for _ in range(20_000):  # same distribution: no alarm
        changes += mon.observe("d1", float(rng.choice(levels, p=p / p.sum())))
    assert changes == []
    shifted = np.arange(128, 200) / 256  # the device got unsure
    fired_at = None
    for i in range(400):
        for ch in mon.observe("d1", float(rng.choice(shifted))):
            if ch.firing and ch.scope == "d1" and fired_at is None:
                fired_at = i + 1
    assert fired_at is not None and fired_at <= 100
    assert ("d1", "confidence") in mon.firing()
    state = mon.state()
    assert state["d1"]["firing"] == {"confidence": True}  # type: ignore[index]
    # back to normal: the alarm clears (hysteresis below psi_clear)
    cleared = []
    for _ in range(600):
        cleared += [c for c in mon.observe("d1", float(rng.choice(levels, p=p / p.sum())))
                    if c.scope == "d1" and not c.firing]
    assert cleared and ("d1", "confidence") not in mon.firing()
    assert psi([], ref) == 0.0


def test_agreement_alarm_against_the_calibrated_rate() -> None:
    mon = DriftMonitor(Monitoring(agreement={"device~edge": 0.99}),
                       DriftConfig(min_audits=20, agreement_tolerance=0.02))
    assert mon.agreement("d1", "device~edge", 10, 10, 0.5) == []  # too few audits
    ok = wilson(40, 40)
    assert mon.agreement("d1", "device~edge", 40, 40, ok.hi) == []
    low = wilson(30, 40)
    fired = mon.agreement("d1", "device~edge", 30, 40, low.hi)
    assert [(c.kind, c.firing) for c in fired] == [("agreement", True)]
    assert mon.agreement(SITE, "device~cloud", 30, 40, low.hi) == []  # no calibrated rate
    assert [c.firing for c in mon.agreement("d1", "device~edge", 40, 40, ok.hi)] == [False]


def test_interval_covers() -> None:
    assert Interval(0.9, 0.85, 0.95, 10).covers(0.95)
    assert not Interval(0.9, 0.85, 0.95, 10).covers(0.96)


def test_device_confidence_closed_form_is_the_wire_view_scaled() -> None:
    from edgecascade.gateway.config import MonitoringConfig
    from edgecascade.gateway.monitoring import device_confidence, load_reference
    from edgecascade.models.calibration import apply_temperature
    from edgecascade.models.fusion import report_probs
    from edgecascade.protocol import Report

    ref = load_reference(MonitoringConfig())
    assert ref is not None and ref.classes == 10 and ref.device_temperature != 1.0
    rng = np.random.default_rng(4)
    for _ in range(300):
        c = sorted((int(x) for x in rng.integers(0, 22000, 3)), reverse=True)
        r = Report("d", 1, 1, 1, "m", 1, (4, 1, 7), tuple(c))
        want = apply_temperature(report_probs(r.classes, r.confidences, 10),
                                 ref.device_temperature)[0, 4]
        assert device_confidence(r, ref) == pytest.approx(float(want), abs=1e-12)


def test_cloud_audits_in_flight_survive_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A cloud reply to an audit sent before a restart is still taken as an audit (never
    handed to the core, where it would become a correction)."""
    from edgecascade.gateway.audit_store import AuditStore
    from edgecascade.gateway.config import MonitoringConfig
    from edgecascade.gateway.metrics import GatewayMetrics
    from edgecascade.gateway.monitoring import FieldMonitor
    from edgecascade.protocol import Report

    cfg = MonitoringConfig(audit_cloud_share=0.1, audit_cloud_messages=10.0)
    rep = Report("cam", 3, 9, 1, "m", 2, (4, 1), (50000, 9000))
    first = FieldMonitor(cfg, None, GatewayMetrics())
    first.attach_store(AuditStore(tmp_path / "a.sqlite"))
    assert first.cloud_audit_allowed(2.0)
    first.cloud_audit_sent(rep, edge_label=4)
    assert first.store is not None
    first.store.close()
    metrics = GatewayMetrics()
    again = FieldMonitor(cfg, None, metrics)
    assert not again.take_cloud_audit(rep.key, 4, 2.0)  # no store yet: unknown
    again.attach_store(AuditStore(tmp_path / "a.sqlite"))
    assert again.take_cloud_audit(rep.key, 4, 2.0)
    assert metrics.value("audits", pair="edge~cloud", outcome="agree") == 1
    assert metrics.value("audit_cloud_cost") == 2.0
    assert not again.take_cloud_audit(rep.key, 4, 2.0)  # once
    # the budget: 10 messages a window, 2 spent
    assert again.cloud_audit_allowed(8.0) and not again.cloud_audit_allowed(8.5)
