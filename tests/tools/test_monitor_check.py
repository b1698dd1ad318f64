"""The offline check of live accuracy and drift over the demo's data path (real tier
outputs of the shipped MNIST models, the gateway's pure estimator and detector)."""

from __future__ import annotations

import pytest

from edgecascade.models.workload import get_workload
from edgecascade.tools.demo import monitor_check
from edgecascade.tools.demo.drift import DriftPlan, drift_devices, drifted_dataset

MON = monitor_check.monitoring("mnist")


@pytest.fixture(scope="module")
def tiers() -> tuple[monitor_check.Tiers, monitor_check.Tiers]:
    wl = get_workload("mnist")
    base = monitor_check.tier_outputs(wl)
    return base, monitor_check.tier_outputs(wl, drifted_dataset(wl.load_split("test")))


def test_interval_covers_the_true_accuracy_at_one_percent_audits(
        tiers: tuple[monitor_check.Tiers, monitor_check.Tiers]) -> None:
    base, _ = tiers
    runs = [monitor_check.simulate(base, MON, devices=5 + (10 + 7 * s) % 16, rate=5.0,
                                   duration=20.0, audit_share=0.01, seed=s)
            for s in range(10)]
    assert sum(r.covered for r in runs) >= 9
    assert sum(r.audits for r in runs) <= 0.011 * sum(r.reports for r in runs)
    assert all(not a["firing"] for r in runs for a in r.alarms)  # no drift, no alarm


def test_drifted_devices_fire_and_the_others_do_not(
        tiers: tuple[monitor_check.Tiers, monitor_check.Tiers]) -> None:
    base, drifted = tiers
    r = monitor_check.simulate(base, MON, devices=10, rate=5.0, duration=60.0, audit_share=0.01,
                               seed=3, drifted=drifted, drift_at=20.0, drift_share=0.3)
    ids = [f"{monitor_check.DEVICE_PREFIX}-{i:04d}" for i in range(10)]
    chosen = set(drift_devices(ids, 0.3))
    fired = {a["scope"] for a in r.alarms if a["firing"]}
    assert chosen <= fired and not (fired - chosen - {"site"})
    assert all(r.first_alarm_after_drift[d] <= 100 for d in chosen)
    assert not [a for a in r.alarms if a["firing"] and not a["after_drift"]]
    assert r.true_accuracy < 0.95  # rotated digits: the drift is real


def test_drift_plan_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        DriftPlan(10.0, kind="melt")
    with pytest.raises(ValueError):
        DriftPlan(10.0, share=0.0)
