"""thresholds.json, ec_settings.h and evaluation.json agree with the models and the data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from edgecascade.models.calibration import apply_temperature
from edgecascade.models.cascade import CascadeSettings, load_settings, run_cascade
from edgecascade.models.dataset import get_source
from edgecascade.models.errors import ModelError
from edgecascade.models.registry import Registry
from edgecascade.tools.models import settings_header
from edgecascade.tools.models.outputs import TierOutputs, collect
from edgecascade.tools.models.paths import EVALUATION_JSON, SETTINGS_H, THRESHOLDS_JSON


@pytest.fixture(scope="module")
def settings() -> CascadeSettings:
    return load_settings()


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(THRESHOLDS_JSON.read_text())


@pytest.fixture(scope="module")
def test_outputs(registry: Registry, settings: CascadeSettings) -> TierOutputs:
    return collect("test", registry, settings.mean_image)


def test_built_from_the_registered_models(doc: dict, registry: Registry) -> None:
    for m in registry.models:
        assert doc["models"][m.tier] == {"id": m.id, "version": m.version, "sha256": m.sha256}, \
            "thresholds.json is stale: run `edgecascade models calibrate`"


def test_mean_image_is_the_training_mean(settings: CascadeSettings) -> None:
    np.testing.assert_array_equal(settings.mean_image, get_source().split_record().train_mean)
    assert settings.mean_image.shape == (28, 28)


def test_settings_header_is_generated_from_thresholds(registry: Registry) -> None:
    assert SETTINGS_H.read_text() == settings_header.render_current(registry=registry), \
        "ec_settings.h is stale: run `edgecascade models calibrate`"


def test_header_integer_thresholds_match_float_semantics(settings: CascadeSettings,
                                                         registry: Registry) -> None:
    text = SETTINGS_H.read_text()
    conf_q = int(re.search(r"EC_DEVICE_CONF_Q \((-?\d+)\)", text).group(1))  # type: ignore[union-attr]
    margin_q = int(re.search(r"EC_DEVICE_MARGIN_Q \((-?\d+)\)", text).group(1))  # type: ignore[union-attr]
    out = registry.for_tier("mcu").output
    q = np.arange(-128, 128)
    real = (q.astype(np.float32) - out.zero_point) * np.float32(out.scale)
    th = settings.thresholds
    assert np.array_equal(q >= conf_q, real >= th.device_confidence)
    diff = np.arange(0, 256)
    assert np.array_equal(diff >= margin_q, diff * np.float32(out.scale) >= th.device_margin)
    mean = re.search(r"ec_mean_image\[784\] = \{(.*?)\};", text, re.S).group(1)  # type: ignore[union-attr]
    assert [int(v) for v in mean.replace("\n", " ").split(",")] == \
        settings.mean_image.ravel().tolist()


def test_recorded_operating_point_reproduces(doc: dict, settings: CascadeSettings,
                                             test_outputs: TierOutputs) -> None:
    out = test_outputs
    o = run_cascade(out.probs["mcu"], out.complexity,
                    apply_temperature(out.probs["edge"], settings.temperatures["edge"]),
                    out.probs["cloud"], settings.thresholds)
    rec = doc["operating_point"]["test"]
    assert o.accuracy(out.labels) == pytest.approx(rec["accuracy"])
    assert o.cloud_share == pytest.approx(rec["cloud_share"])
    assert o.leave_device_share == pytest.approx(rec["leave_device_share"])


def test_operating_point_meets_targets(doc: dict) -> None:
    op = doc["operating_point"]["test"]
    assert op["accuracy"] >= op["cloud_only_accuracy"] - 0.003
    assert op["cloud_share"] <= 0.10
    assert op["leave_device_share"] <= 0.40


def test_evaluation_json_matches_current_settings(settings: CascadeSettings,
                                                  registry: Registry) -> None:
    ev = json.loads(EVALUATION_JSON.read_text())
    assert ev["thresholds"] == settings.thresholds.as_file(), \
        "evaluation.json is stale: run `edgecascade models evaluate`"
    assert {t: v["sha256"] for t, v in ev["models"].items()} == \
        {m.tier: m.sha256 for m in registry.models}
    assert ev["tiers"]["mcu"]["accuracy"] >= 0.95


def test_missing_thresholds_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        load_settings(tmp_path / "thresholds.json")
    (tmp_path / "t.json").write_text('{"thresholds": {}}')
    with pytest.raises(ModelError, match="malformed"):
        load_settings(tmp_path / "t.json")


def test_one_thresholds_type_for_every_tier() -> None:
    """The gateway, the emulator and the tools import the same class, one set of defaults."""
    import math

    from edgecascade.emulator.policy import Thresholds as DeviceThresholds
    from edgecascade.gateway.config import Thresholds as GatewayThresholds
    from edgecascade.gateway.policy import Snapshot
    from edgecascade.models.cascade import Thresholds

    assert DeviceThresholds is Thresholds and GatewayThresholds is Thresholds
    assert Snapshot.__dataclass_fields__["thresholds"].type in ("Thresholds", Thresholds)
    t = Thresholds()
    assert (t.device_confidence, t.device_margin, t.complexity_limit, t.edge_confidence,
            t.edge_margin, t.edge_temperature) == (0.90, 0.25, math.inf, 0.80, 0.0, 1.0)
    assert Thresholds(0.5, 0.1, 0.3) == Thresholds(device_confidence=0.5, device_margin=0.1,
                                                   complexity_limit=0.3)


def test_thresholds_are_validated_all_at_once() -> None:
    from edgecascade.models.cascade import Thresholds, ThresholdsError

    with pytest.raises(ThresholdsError) as info:
        Thresholds(1.5, -0.1, -1.0, 0.5, 0.0, 0.0)
    assert [k for k, _ in info.value.problems] == [
        "device_confidence", "device_margin", "complexity_limit", "edge_temperature"]
    assert isinstance(info.value, ValueError) and isinstance(info.value, ModelError)


def test_file_round_trip_and_layers(settings: CascadeSettings, tmp_path: Path) -> None:
    from edgecascade.config import Problems
    from edgecascade.models.cascade import DEFAULT_THRESHOLDS, resolve_thresholds

    th = settings.thresholds
    on_disk = json.loads(DEFAULT_THRESHOLDS.read_text())
    assert th.as_file() == on_disk["thresholds"]  # what calibrate writes is what is read
    assert th.edge_temperature == on_disk["temperatures"]["edge"]
    problems = Problems()
    layered = resolve_thresholds(problems, file=DEFAULT_THRESHOLDS,
                                 table={"device_margin": 0.3, "edge_confidence": 0.9},
                                 env={"EC_THRESHOLD_EDGE_CONFIDENCE": "0.95"})
    assert problems.items == []
    assert (layered.device_confidence, layered.device_margin, layered.edge_confidence) == \
        (th.device_confidence, 0.3, 0.95)
    assert resolve_thresholds(problems) == type(th)()  # no layer: the defaults
    bad = resolve_thresholds(problems, file=tmp_path / "none.json",
                             table={"edge_confidence": "high", "colour": 1},
                             env={"EC_THRESHOLD_DEVICE_CONFIDENCE": "2"})
    assert bad == type(th)()
    assert {p for p, _ in problems.items} == {
        str(tmp_path / "none.json"), "thresholds.edge_confidence", "thresholds.colour",
        "EC_THRESHOLD_DEVICE_CONFIDENCE"}
