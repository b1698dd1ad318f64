"""The gateway's HA entities for live accuracy and drift (issue 22) read the nested
metrics of the JSON view: unknown before any answer, the estimate and its interval as
attributes after, drift ON while an alarm fires."""

from __future__ import annotations

import json

from edgecascade.gateway.discovery import GATEWAY_ENTITIES
from tests.dashboards.test_discovery import DISCOVERY, render


def _view(values: dict[str, float]) -> dict[str, object]:
    from edgecascade.gateway.metrics_json import nested_metrics
    from edgecascade.protocol import Metrics
    from edgecascade.protocol.jsonview import metrics_view

    view = metrics_view(Metrics("gw1", 1, values)) | {"nested": nested_metrics(values)}
    return json.loads(json.dumps(view))


def test_live_accuracy_and_drift_entities() -> None:
    by_id = {e.object_id: json.loads(b) for e, (_, b) in
             zip(GATEWAY_ENTITIES, DISCOVERY.gateway_configs("gw1"), strict=True)}
    acc, drift = by_id["live_accuracy"], by_id["drift"]
    before = _view({"ec_gateway_live_accuracy_answers": 0.0, "ec_gateway_drift_firing": 0.0})
    assert render(acc["value_template"], before) == "None"
    assert render(drift["value_template"], before) == "OFF"
    after = _view({"ec_gateway_live_accuracy": 0.9861, "ec_gateway_live_accuracy_low": 0.975,
                   "ec_gateway_live_accuracy_high": 0.997,
                   "ec_gateway_live_accuracy_answers": 1000.0,
                   "ec_gateway_audit_agreement": 1.0, "ec_gateway_audits_in_window": 9.0,
                   "ec_gateway_drift_firing": 2.0})
    assert render(acc["value_template"], after) == "98.61"
    attrs = json.loads(render(acc["json_attributes_template"], after))
    assert attrs == {"low": 0.975, "high": 0.997, "answers": 1000.0, "audit_agreement": 1.0,
                     "audits": 9.0}
    assert render(drift["value_template"], after) == "ON"
    assert drift["device_class"] == "problem"
