"""``edgecascade status`` shows the live accuracy estimate and the drift alarms (issue 22),
read from the gateway's /metrics like the rest."""

from __future__ import annotations

from edgecascade.gateway.status import render, summarize


def _metrics(**values: float) -> str:
    return "".join(f"# TYPE ec_gateway_{k} gauge\nec_gateway_{k} {v}\n"
                   for k, v in values.items())


def test_live_accuracy_and_alarms_in_the_status() -> None:
    text = _metrics(live_accuracy=0.9861, live_accuracy_low=0.975, live_accuracy_high=0.997,
                    live_accuracy_answers=1000, audit_agreement=1.0, audits_in_window=9,
                    drift_firing=2, drift_site_firing=0, devices_silent=1)
    s = summarize((200, "ready\n"), text)
    assert s.live_accuracy == (0.9861, 0.975, 0.997) and s.audits == 9
    out = render(s)
    assert ("accuracy  98.61% live estimate [97.50%, 99.70%] over 1000 answers "
            "(no labels, audits agree 100.0% of 9)") in out
    assert "alarms    2 drift alarm(s) firing (per device), 1 device(s) silent" in out
    assert s.as_dict()["live_accuracy"] == (0.9861, 0.975, 0.997)


def test_no_estimate_before_any_answer() -> None:
    s = summarize((200, "ready\n"), _metrics(live_accuracy=0, live_accuracy_answers=0))
    assert s.live_accuracy is None
    assert "accuracy" not in render(s) and "alarms" not in render(s)
