"""The registry agrees with the model files, the shipped data and the interpreters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgecascade.models.dataset import get_source, load_split
from edgecascade.models.errors import ModelError
from edgecascade.models.registry import Registry, load_registry, sha256_file
from edgecascade.models.runtime import ModelRunner

MCU_BUDGET_BYTES = 64 * 1024
ARENA_BUDGET_BYTES = 32 * 1024


def test_every_tier_registered_and_files_match(registry: Registry) -> None:
    assert sorted(m.tier for m in registry.models) == ["cloud", "edge", "mcu"]
    for m in registry.models:
        assert m.id == f"mnist-{m.tier}"
        assert m.path.stat().st_size == m.size
        assert sha256_file(m.path) == m.sha256
        assert m.labels == tuple(str(d) for d in range(10))
        assert m.version >= 1


def test_registry_tensor_specs_match_the_interpreter(registry: Registry) -> None:
    for m in registry.models:
        r = ModelRunner(m.path)
        assert (r.model_id, r.model_version) == (m.id, m.version)
        assert r.input_shape == m.input.shape
        assert r.input_dtype.name == m.input.dtype
        assert r.input_quantization.scale == pytest.approx(m.input.scale, rel=1e-9)
        assert r.input_quantization.zero_point == m.input.zero_point
        assert r.output_dtype.name == m.output.dtype
        assert r.output_quantization.scale == pytest.approx(m.output.scale, rel=1e-9)
        assert r.output_quantization.zero_point == m.output.zero_point
        assert r.num_classes == m.output.shape[0] == len(m.labels)


def test_mcu_within_budget(registry: Registry) -> None:
    mcu = registry.for_tier("mcu")
    assert mcu.input.dtype == "int8" and mcu.output.dtype == "int8"
    assert mcu.size <= MCU_BUDGET_BYTES
    assert mcu.arena_bytes is not None and 0 < mcu.arena_bytes <= ARENA_BUDGET_BYTES
    assert registry.for_tier("edge").input.dtype == "int8"


def test_registered_accuracy_is_reproduced(registry: Registry) -> None:
    test = load_split("test")
    for tier in ("edge", "cloud"):
        m = registry.for_tier(tier)
        probs = ModelRunner(m.path).predict(test.images)
        assert float((probs.argmax(1) == test.labels).mean()) == pytest.approx(
            m.test_accuracy, abs=5e-4)


def test_split_record_matches_shipped_data(registry: Registry) -> None:
    record = get_source().split_record()
    expected = record.to_json()
    expected.pop("train_mean")
    assert registry.split == expected
    for name in ("calib", "test"):
        ds = load_split(name)
        assert len(ds) == record.sizes[name]
        assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == (28, 28)
        assert np.bincount(ds.labels, minlength=10).tolist() == [len(ds) // 10] * 10
    calib, test = load_split("calib"), load_split("test")
    # No image is in both held-out splits.
    a = {bytes(x) for x in calib.images.reshape(len(calib), -1)}
    assert not any(bytes(x) in a for x in test.images.reshape(len(test), -1))


def test_hash_mismatch_names_file_and_problem(registry_copy: Path) -> None:
    load_registry(registry_copy)  # the intact copy verifies
    model = registry_copy.parent / "mnist-edge.tflite"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError) as info:
        load_registry(registry_copy)
    assert info.value.path == str(model)
    assert "sha256" in info.value.problem and "mnist-edge" in info.value.problem


def test_missing_model_file_is_reported(registry_copy: Path) -> None:
    (registry_copy.parent / "mnist-cloud.tflite").unlink()
    with pytest.raises(ModelError, match="missing") as info:
        load_registry(registry_copy)
    assert info.value.path.endswith("mnist-cloud.tflite")


def test_missing_and_malformed_registry(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        load_registry(tmp_path / "registry.json")
    (tmp_path / "registry.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_registry(tmp_path / "registry.json")
    (tmp_path / "registry.json").write_text(json.dumps({"schema": 1, "models": [{}]}))
    with pytest.raises(ModelError, match="malformed"):
        load_registry(tmp_path / "registry.json")


def test_registered_arena_is_the_measured_minimum(registry: Registry) -> None:
    pytest.importorskip("tflite_micro")
    from edgecascade.tools.models.arena_probe import fits

    mcu = registry.for_tier("mcu")
    assert mcu.arena_bytes is not None
    assert fits(mcu.path, mcu.arena_bytes)
    assert not fits(mcu.path, mcu.arena_bytes - 256)
