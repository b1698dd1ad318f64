"""One precedence for thresholds, seen by the running gateway:

    defaults < thresholds_file < [thresholds] < EC_THRESHOLD_<KEY>

Each key is set through each layer (a real thresholds file, a real TOML file read by
``load_config``, an environment mapping), a real :class:`Gateway` is started against the
test broker, and the test checks what reaches the policy: the :class:`Snapshot` that
``policy.decide`` is called with (the real function still decides), the DeviceConfig the
gateway publishes to a newborn device, and the temperature its edge model scales with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgecascade.gateway import policy
from edgecascade.gateway.config import load_config
from edgecascade.gateway.edge import TFLiteEdgeModel
from edgecascade.gateway.service import Gateway
from edgecascade.models.cascade import ENV_PREFIX, Thresholds
from edgecascade.protocol import DeviceConfig, DeviceState, Result, TopicKind, decode, encode
from tests.gateway.support import EDGE_MODEL, THRESHOLDS, report
from tests.support import Collector, publish

KEYS = ("device_confidence", "device_margin", "complexity_limit", "edge_confidence",
        "edge_margin", "edge_temperature")
# Distinct values per layer, so each assertion names the layer that won.
FILE = {"device_confidence": 0.61, "device_margin": 0.11, "complexity_limit": 0.41,
        "edge_confidence": 0.71, "edge_temperature": 1.5}  # the file has no edge margin
TOML = {"device_confidence": 0.62, "device_margin": 0.12, "complexity_limit": 0.42,
        "edge_confidence": 0.72, "edge_margin": 0.02, "edge_temperature": 1.6}
ENV = {"device_confidence": 0.63, "device_margin": 0.13, "complexity_limit": 0.43,
       "edge_confidence": 0.73, "edge_margin": 0.03, "edge_temperature": 1.7}


def write_thresholds_file(path: Path) -> Path:
    doc = json.loads(THRESHOLDS.read_text())
    doc["thresholds"] = {"device_conf": FILE["device_confidence"],
                         "device_margin": FILE["device_margin"],
                         "complexity_limit": FILE["complexity_limit"],
                         "edge_conf": FILE["edge_confidence"]}
    doc["temperatures"]["edge"] = FILE["edge_temperature"]
    path.write_text(json.dumps(doc))
    return path


def write_toml(tmp: Path, broker_url: str, prefix: str, table: dict[str, float]) -> Path:
    rows = "".join(f"{k} = {v}\n" for k, v in table.items())
    path = tmp / "gateway.toml"
    path.write_text(f"""
version = 1
gateway_id = "gwt"
prefix = "{prefix}"
thresholds_file = "{write_thresholds_file(tmp / 'thresholds.json')}"
[broker]
url = "{broker_url}"
keepalive = 5
[edge]
model = "{EDGE_MODEL}"
[cloud]
enabled = false
[storage]
state_dir = "{tmp / 'state'}"
[http]
enabled = false
[thresholds]
{rows}""")
    return path


@pytest.fixture
def seen(monkeypatch) -> list[policy.Snapshot]:
    """Every Snapshot the gateway hands to the (real) policy."""
    snapshots: list[policy.Snapshot] = []
    real = policy.decide

    def decide(report: Any, snap: policy.Snapshot) -> policy.Decision:
        snapshots.append(snap)
        return real(report, snap)

    monkeypatch.setattr(policy, "decide", decide)
    return snapshots


def run_gateway(tmp: Path, broker, topics, closing, seen: list[policy.Snapshot],
                table: dict[str, float], env: dict[str, str]) -> tuple[Thresholds, DeviceConfig,
                                                                     float]:
    cfg = load_config(write_toml(tmp, broker.url, topics.prefix, table), env=env)
    configs = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_CONFIG)])
    results = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    closing.extend([configs, results])
    gw = Gateway(cfg).start()
    closing.append(gw)
    publish(broker.host, broker.port, [
        (topics.device_state("d1"), encode(DeviceState(device_id="d1", online=True, ts_ms=1))),
        (topics.device_report("d1"), encode(report("d1", 1, confident=True)))])
    device_config = decode(DeviceConfig, configs.wait_for(1, 30)[0].payload)
    results.wait_for(1, 30)
    assert seen, "the policy was never asked"
    assert isinstance(gw.edge, TFLiteEdgeModel)
    return seen[-1].thresholds, device_config, gw.edge.temperature


def check(got: tuple[Thresholds, DeviceConfig, float], want: dict[str, float]) -> None:
    thresholds, device_config, temperature = got
    for key in KEYS:
        assert getattr(thresholds, key) == pytest.approx(want[key]), key
    # what the device is told equals what the policy tests (float32 on the wire)
    assert device_config.conf_threshold == pytest.approx(want["device_confidence"], abs=1e-6)
    assert device_config.margin_threshold == pytest.approx(want["device_margin"], abs=1e-6)
    assert device_config.complexity_limit == pytest.approx(want["complexity_limit"], abs=1e-6)
    assert temperature == pytest.approx(want["edge_temperature"])


DEFAULT_EDGE_MARGIN = Thresholds().edge_margin


@pytest.mark.parametrize("top", ["file", "toml", "env"])
def test_each_key_through_each_layer_reaches_the_policy(top, tmp_path, broker, topics,
                                                        closing, seen):
    """``file``: the file alone; ``toml``: file + [thresholds]; ``env``: all three."""
    table = TOML if top in ("toml", "env") else {}
    env = {ENV_PREFIX + k.upper(): str(v) for k, v in ENV.items()} if top == "env" else {}
    want = {"file": {**FILE, "edge_margin": DEFAULT_EDGE_MARGIN}, "toml": TOML,
            "env": ENV}[top]
    check(run_gateway(tmp_path, broker, topics, closing, seen, table, env), want)


def test_layers_mix_key_by_key(tmp_path, broker, topics, closing, seen):
    """Each key comes from the highest layer that sets it."""
    table = {"edge_confidence": 0.95, "device_margin": TOML["device_margin"]}  # the bug: 0.95
    env = {"EC_THRESHOLD_DEVICE_MARGIN": "0.2", "EC_THRESHOLD_EDGE_MARGIN": "0.04"}
    want = {**FILE, "edge_margin": 0.04, "edge_confidence": 0.95, "device_margin": 0.2}
    check(run_gateway(tmp_path, broker, topics, closing, seen, table, env), want)


def between(lo: float, hi: float) -> int:
    """A test image the real edge model (temperature 1.0) answers with lo < top-1 < hi."""
    from tests.gateway.support import images

    imgs, _ = images()
    answers = TFLiteEdgeModel(str(EDGE_MODEL)).classify(imgs[:2000])
    return next(i for i, a in enumerate(answers) if lo + 0.02 < a.confidence < hi - 0.02)


@pytest.mark.parametrize("edge_confidence, reason", [(None, "edge_confident"),
                                                     (0.95, "edge_unsure")])
def test_a_toml_edge_confidence_over_the_file_decides_edge_answers(
        edge_confidence, reason, tmp_path, broker, topics, closing):
    """The original bug: [thresholds] edge_confidence = 0.95 over a file's 0.77 ended up
    as 0.77. A frame the edge model answers at ~0.85 is accepted under the file's value
    (control) and must not be under the TOML value."""
    table = {"edge_temperature": 1.0}
    if edge_confidence is not None:
        table["edge_confidence"] = edge_confidence
    image = between(FILE["edge_confidence"], 0.95)
    cfg = load_config(write_toml(tmp_path, broker.url, topics.prefix, table), env={})
    results = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    closing.append(results)
    closing.append(Gateway(cfg).start())
    publish(broker.host, broker.port, [(topics.device_report("d2"), encode(
        report("d2", 1, confident=False, image=image)))])
    got = decode(Result, results.wait_for(1, 30)[0].payload)
    assert got.tier == "edge"
    assert (got.reason == "edge_confident") == (reason == "edge_confident"), got
    assert got.degraded == (reason != "edge_confident")  # cloud disabled: answered locally


def test_bad_values_are_reported_where_they_came_from(tmp_path, broker, topics):
    from edgecascade.config import ConfigError

    path = write_toml(tmp_path, broker.url, topics.prefix, {"edge_confidence": 1.5})
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"EC_THRESHOLD_DEVICE_MARGIN": "-1",
                               "EC_THRESHOLD_EDGE_TEMPERATURE": "warm"})
    found = dict(info.value.problems)
    assert "0..1" in found["thresholds.edge_confidence"]
    assert "0..1" in found["EC_THRESHOLD_DEVICE_MARGIN"]
    assert "expected float" in found["EC_THRESHOLD_EDGE_TEMPERATURE"]
    missing = tmp_path / "gone.toml"
    missing.write_text(path.read_text().replace(str(tmp_path / "thresholds.json"),
                                                str(tmp_path / "none.json")))
    with pytest.raises(ConfigError) as info:
        load_config(missing, env={})
    assert "missing" in dict(info.value.problems)[str(tmp_path / "none.json")]
