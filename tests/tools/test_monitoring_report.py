"""The demo report's monitoring section (issue 22) from a gateway's monitoring state, and
the drift injection's frame sources (real emulator FrameSource, real tflite-micro)."""

from __future__ import annotations

import numpy as np

from edgecascade.models.workload import get_workload
from edgecascade.tools.demo.drift import DriftPlan, drifted_dataset
from edgecascade.tools.demo.monitoring_report import DriftApplied, render_lines, summarize


def _state(firing: bool) -> dict:
    alarms = [{"scope": "demo-0000", "kind": "confidence", "firing": True, "value": 0.9,
               "at_report": 125, "ts_ms": 30_000},
              {"scope": "demo-0007", "kind": "confidence", "firing": True, "value": 0.3,
               "at_report": 50, "ts_ms": 5_000}]
    return {"live_accuracy": {"estimate": {"estimate": 0.985, "lo": 0.975, "hi": 0.995,
                                           "n": 1000},
                              "agreement": {"device~edge": {"estimate": 1.0, "n": 9}}},
            "audits": {"agree": 9, "disagree": 0, "dropped": 1, "error": 0},
            "audit_share": 0.01, "alarms": alarms,
            "firing": [{"scope": "demo-0000", "kind": "confidence"}] if firing else []}


def test_no_drift_run() -> None:
    m = summarize(_state(False) | {"alarms": []}, 0.99, 1000)
    assert m is not None and m["covered"] and m["false_alarms"] == 0
    assert m["audited_share_of_frames"] == 0.009
    text = "\n".join(render_lines(m))
    assert "98.50% estimated [97.50%, 99.50%] over 1000 answers; true (first answers) " \
           "99.00%: inside the interval" in text
    assert "9 frames audited" in text and "1 dropped" in text and "0 cloud messages" in text
    assert summarize(None, 0.99, 1000) is None and render_lines(None) == []


def test_drift_run_times_the_alarms_from_the_drift() -> None:
    drift = DriftApplied(at_ts_ms=10_000, at_s=20.0, kind="rotate", devices=("demo-0000",))
    m = summarize(_state(True), 0.80, 1000, drift)
    assert m is not None and not m["covered"] and not m["estimate_valid"]
    assert m["first_alarm_after_drift_s"] == {"demo-0000": 20.0}
    assert m["false_alarms"] == 1  # demo-0007 fired before the drift began
    text = "\n".join(render_lines(m))
    assert "alarm fired        demo-0000 20.0 s after" in text
    assert "OUTSIDE the interval" in text and "flagged invalid" in text


def test_drifted_source_answers_the_changed_frames() -> None:
    wl = get_workload("mnist")
    ds = wl.load_split("test")
    rotated = drifted_dataset(ds, "rotate")
    assert np.array_equal(rotated.images[0], np.rot90(ds.images[0]))
    assert np.array_equal(rotated.labels, ds.labels)
    noisy = drifted_dataset(ds, "noise", seed=1)
    assert noisy.images.dtype == ds.images.dtype and not np.array_equal(noisy.images, ds.images)

    class Dev:  # what DriftPlan.apply touches: an emulator device's core.source
        def __init__(self) -> None:
            self.core = type("Core", (), {"source": None})()

    devices = {f"d{i}": Dev() for i in range(4)}
    chosen = DriftPlan(5.0, "rotate", share=0.5).apply(devices, wl)
    assert chosen == ["d0", "d1"]
    src = devices["d0"].core.source
    assert devices["d2"].core.source is None
    a = src.answer(0)
    assert a.label == int(ds.labels[0])
    assert a.frame.data == src.quantize(rotated.images[0]).tobytes()


def test_demo_refuses_bad_drift_and_audit_options(capsys) -> None:  # type: ignore[no-untyped-def]
    from edgecascade.cli import main

    for args in (["--drift-share", "0"], ["--audit-share", "0.9"], ["--drift-at", "-1"]):
        assert main(["demo", "--no-live", *args]) == 2
        assert "--audit-share must be within 0..0.5" in capsys.readouterr().err
