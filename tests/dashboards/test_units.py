"""The pure parts: the JSON view, the [dashboards] config table and the live state."""

from __future__ import annotations

import json

import pytest

from edgecascade.gateway.config import ConfigError, parse_config
from edgecascade.gateway.dashboards import DashboardsConfig, parse_dashboards
from edgecascade.gateway.live import LiveState
from edgecascade.protocol import DeviceState, Metrics, ProtocolError, Result
from edgecascade.protocol.jsonview import (
    JsonTopics,
    dumps,
    metrics_view,
    result_view,
    short_float32,
)


def result(seq: int, tier: str = "device", revision: int = 0, label: int = 3,
           latency: float = 1.0, cost: float = 0.0) -> Result:
    return Result("cam1", 1, seq, label, 0.99, tier, "mnist-mcu", 1, latency, cost,
                  "confident" if revision == 0 else "cloud_answer", revision, "gw1",
                  1_700_000_000_000)


def test_json_topics_and_limits() -> None:
    jt = JsonTopics("ec/v1/json")
    assert jt.result("cam1") == "ec/v1/json/res/cam1"
    assert jt.device_state("cam1") == "ec/v1/json/dev/cam1/state"
    assert jt.gateway_metrics("gw1") == "ec/v1/json/gw/gw1/metrics"
    with pytest.raises(ProtocolError):
        jt.result("bad/id")
    with pytest.raises(ProtocolError):
        JsonTopics("a/b/c/d")  # at most three segments (AWS: <= 7 slashes in a topic)


def test_result_view_names_fields_and_tidies_float32() -> None:
    view = result_view(result(5), ("zero", "one", "two", "three"))
    assert view["label_name"] == "three" and view["confidence"] == 0.99
    assert view["kind"] == "result" and view["schema"] == 1 and view["stale"] is False
    assert json.loads(dumps(view)) == view
    assert "label_name" not in result_view(result(5, label=7), ("a",))
    assert short_float32(0.4099999964237213) == 0.41
    m = metrics_view(Metrics("gw1", 1, {'ec_gateway_results_total{tier="edge"}': 3.0}))
    assert m["values"] == {'ec_gateway_results_total{tier="edge"}': 3.0}


def parse(raw: object) -> tuple[DashboardsConfig, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    cfg = parse_dashboards(raw, lambda path, why: problems.append((path, why)))
    return cfg, problems


def test_dashboards_table_reports_every_problem_with_its_path() -> None:
    cfg, problems = parse({"json_view": True, "ha_discovery": True})
    assert cfg == DashboardsConfig(json_view=True, ha_discovery=True) and not problems
    _, problems = parse({"json_view": "yes", "nope": 1, "json_root": "a b",
                         "ha_prefix": "x/y", "ha_discovery": True})
    paths = [p for p, _ in problems]
    assert paths == ["dashboards.json_view", "dashboards.nope", "dashboards.json_root",
                     "dashboards.ha_prefix", "dashboards.ha_discovery"]
    assert parse(None) == (DashboardsConfig(), [])
    assert parse([1]) == (DashboardsConfig(), [("dashboards", "must be a table")])
    # through the gateway's config loader
    cfg2 = parse_config({"dashboards": {"json_view": True, "json_root": "site/json"}}, env={})
    assert cfg2.dashboards.json_view and cfg2.dashboards.json_root == "site/json"
    with pytest.raises(ConfigError, match="dashboards.ha_prefix"):
        parse_config({"dashboards": {"ha_prefix": ""}}, env={})


def test_live_state_counts_first_answers_and_corrections() -> None:
    truth = {("cam1", 1, 0): 3, ("cam1", 1, 1): 4}
    live = LiveState(lambda model_id: tuple("0123456789"), truth=truth.get)
    live.add_result(result(0, latency=2.0))
    live.add_result(result(1, tier="edge", latency=10.0))
    live.add_result(result(1, tier="cloud", revision=1, label=4, cost=0.5))
    live.set_device(DeviceState("cam1", True, 1))
    snap = live.snapshot({"ec_gateway_reports_total": 2.0}, budget=100.0)
    assert snap["answered"] == 2 and snap["tiers"] == {"device": 1, "edge": 1}
    assert snap["tier_share"] == {"device": 0.5, "edge": 0.5}
    assert snap["corrections"] == 1 and snap["result_cost"] == 0.5
    assert snap["accuracy"] == 0.5 and snap["judged"] == 2
    assert snap["latency_ms"]["p50"] in (2.0, 10.0) and snap["latency_ms"]["window"] == 2
    assert snap["last"][0]["tier"] == "cloud" and snap["last"][0]["truth"] == 4
    assert snap["devices"][0]["online"] is True and snap["budget_messages"] == 100.0
    version = snap["version"]
    live.remove_device("cam1")
    assert live.wait(version, 0) != version and live.snapshot({}, None)["devices"] == []


def test_live_series_one_bucket_a_second_bounded_to_a_minute() -> None:
    from edgecascade.gateway.live import SERIES_SECONDS
    from edgecascade.protocol import Result

    now = [1000.2]
    live = LiveState(clock=lambda: now[0])

    def result(seq: int, tier: str, latency: float) -> Result:
        return Result("cam1", 1, seq, 3, 0.9, tier, "m", 1, latency, 0.0, "confident", 0,
                      "gw1", 1)

    live.add_result(result(0, "device", 1.0))
    live.add_result(result(1, "device", 3.0))
    now[0] = 1001.5
    live.add_result(result(2, "cloud", 80.0))
    series = live.snapshot({}, None)["series"]
    assert series["start"] == 1001 - SERIES_SECONDS + 1
    assert series["answers_per_s"]["device"][-2:] == [2, 0]
    assert series["answers_per_s"]["cloud"][-2:] == [0, 1]
    assert series["latency_ms_mean"][-2:] == [2.0, 80.0]
    assert series["latency_ms_mean"][0] is None  # a second without answers
    now[0] = 5000.0  # an hour later: nothing in the window, nothing kept beyond it
    late = live.snapshot({}, None)["series"]
    assert all(v == 0 for v in late["answers_per_s"]["device"])
    assert len(late["latency_ms_mean"]) == SERIES_SECONDS


class RecordingPublisher:
    """Test seam (named as such): stands in for the gateway's MQTT client and records what
    the dashboards publish; the broker path is covered by test_live.py."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self.sent.append((topic, payload, qos, retain))


def test_ha_state_at_most_once_per_interval_per_device_the_last_one_kept() -> None:
    from edgecascade.gateway.dashboards import Dashboards
    from edgecascade.gateway.model_labels import ModelLabels
    from edgecascade.protocol import Topics

    now = [100.0]
    pub = RecordingPublisher()
    dash = Dashboards(DashboardsConfig(json_view=True, ha_discovery=True,
                                       ha_min_interval_s=10.0), Topics("ec/v1"), "gw1", "0.1",
                      lambda: pub, dict, labels=ModelLabels({"mnist-mcu": tuple("0123456789")}),
                      clock=lambda: now[0])
    last = dash.json.device_last("cam1")

    def lasts() -> list[dict]:
        return [json.loads(p) for t, p, _, retain in pub.sent if t == last and retain and p]

    for seq, at in enumerate((100.0, 101.0, 102.0)):  # a burst: the first goes out
        now[0] = at
        dash.on_result(result(seq, label=seq + 4))
    assert [v["seq"] for v in lasts()] == [0]
    assert len([t for t, *_ in pub.sent if t == dash.json.result("cam1")]) == 3  # all JSON
    now[0] = 105.0
    dash.on_metrics(Metrics("gw1", 1, {}))
    assert [v["seq"] for v in lasts()] == [0]  # still inside the interval
    now[0] = 110.5
    dash.on_metrics(Metrics("gw1", 2, {}))
    assert [v["seq"] for v in lasts()] == [0, 2]  # the burst's last result, not the middle
    assert lasts()[-1]["label_name"] == "6"
    now[0] = 111.0
    dash.on_metrics(Metrics("gw1", 3, {}))
    assert len(lasts()) == 2  # nothing waits any more
    # retiring clears the retained state and forgets the device's interval
    dash.on_device_state("cam1", b"")
    assert (last, b"", 1, True) in pub.sent
    dash.on_result(result(9))
    assert lasts()[-1]["seq"] == 9


def test_ha_min_interval_config() -> None:
    problems: list[tuple[str, str]] = []
    cfg = parse_dashboards({"ha_min_interval_s": 0}, lambda p, w: problems.append((p, w)))
    assert cfg.ha_min_interval_s == 0.0 and not problems
    parse_dashboards({"ha_min_interval_s": -1.0}, lambda p, w: problems.append((p, w)))
    assert problems == [("dashboards.ha_min_interval_s", "must be 0..86400 seconds")]
    assert DashboardsConfig().ha_min_interval_s == 10.0


def test_nested_metrics_keys_by_short_name_and_declared_label_order() -> None:
    from edgecascade.gateway.metrics_json import nested_metrics

    got = nested_metrics({
        'ec_gateway_results_total{reason="confident",tier="device"}': 7.0,
        'ec_gateway_results_total{reason="cloud_answer",tier="cloud"}': 2.0,
        'ec_gateway_latency_seconds_count{tier="edge"}': 3.0,
        "ec_gateway_spool_depth": 4.0, "not_ours": 1.0})
    assert got == {"results_total": {"device/confident": 7.0, "cloud/cloud_answer": 2.0},
                   "latency_seconds_count": {"edge": 3.0}, "spool_depth": 4.0}


def test_labels_come_from_the_registry_of_the_model_that_answered(tmp_path) -> None:
    from edgecascade.gateway.model_labels import load_model_labels, registries_for
    from edgecascade.models.workload import MNIST

    own = tmp_path / "registry.json"
    doc = json.loads(MNIST.registry_path.read_text())
    for m in doc["models"]:
        m["id"] = m["id"].replace("mnist", "mine")
        m["labels"] = [f"c{i}" for i in range(len(m["labels"]))]
    own.write_text(json.dumps(doc))
    labels = load_model_labels(registries_for(str(tmp_path / "mine-edge.tflite")))
    assert labels.of("mine-cloud")[3] == "c3" and labels.of("mine-mcu")[0] == "c0"
    assert labels.of("mnist-edge")[3] == "3"  # the bundled registries too
    assert labels.of("unknown-model") == ()
    live = LiveState(labels.of)
    live.add_result(Result("cam1", 1, 0, 3, 0.9, "cloud", "mine-cloud", 1, 1.0, 0.0,
                           "cloud_answer", 0, "gw1", 1))
    assert live.snapshot({}, None)["last"][0]["label_name"] == "c3"
