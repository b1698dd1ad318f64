"""The TFLite->ONNX converter and the shipped ONNX twins: real files, real runtimes
(ai-edge-litert and onnxruntime's CPU provider)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecascade.models.cascade import load_settings
from edgecascade.models.errors import ModelError
from edgecascade.models.registry import MODELS_DIR, load_registry
from edgecascade.models.runtime import RuntimeSettings, open_runner
from edgecascade.models.workload import get_workload
from edgecascade.tools.models.onnx_convert import tflite_to_onnx
from edgecascade.tools.models.onnx_registry import onnx_info, parity, split_frames

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

WORKLOADS = ("mnist", "har")


@pytest.mark.parametrize("name", WORKLOADS)
def test_every_edge_and_cloud_tier_ships_a_registered_verified_onnx_twin(name: str) -> None:
    reg = get_workload(name).registry(verify=True)  # hashes of the .onnx files too
    for tier in ("edge", "cloud"):
        tflite = reg.for_tier(tier)
        twin = reg.twin(tflite, "onnx")
        assert twin is not None and twin.path.suffix == ".onnx" and twin.path.is_file()
        assert (twin.id, twin.version, twin.tier) == (tflite.id, tflite.version, tier)
        assert twin.onnx is not None and twin.onnx.opset >= 13
        assert twin.onnx.precision == "float"
        assert twin.onnx.source_sha256 == tflite.sha256  # made from the shipped file
        assert twin.onnx.parity is not None and twin.onnx.parity.split == "test"
        assert twin.input.dtype == "float32" and twin.input.shape == tflite.input.shape
        assert twin.input.layout == tflite.input.layout
    assert reg.for_tier("mcu").format == "tflite" and all(m.format == "tflite"
                                                           for m in reg.models)


@pytest.mark.parametrize("name", WORKLOADS)
def test_onnx_answers_match_litert_as_the_registry_records(name: str) -> None:
    """The parity the registry records holds: same top-1 on every test frame, the same
    probabilities within the recorded difference (int8 edge: rounding of activations)."""
    wl = get_workload(name)
    reg = wl.registry(verify=False)
    frames, labels, split = split_frames(wl)
    for tier in ("edge", "cloud"):
        path = reg.for_tier(tier).path
        lite = open_runner(path, RuntimeSettings(runtime="litert")).predict_real(frames)
        ort_runner = open_runner(path, RuntimeSettings(runtime="onnxruntime"))
        assert ort_runner.info.backend == "onnxruntime" and ort_runner.info.provider == "cpu"
        ort = ort_runner.predict_real(frames)
        recorded = reg.twin(reg.for_tier(tier), "onnx").onnx.parity
        got = parity(lite, ort, split)
        assert got.samples == recorded.samples == len(labels)
        assert got.top1_agreement >= recorded.top1_agreement
        assert got.max_prob_diff <= recorded.max_prob_diff + 1e-5
        assert recorded.top1_agreement == 1.0  # what the shipped files achieve
        if tier == "edge":  # the cascade's edge decision moves only at its threshold
            s = load_settings(wl.thresholds_path)
            flips = np.asarray(s.edge_accepts(lite)) != np.asarray(s.edge_accepts(ort))
            assert flips.mean() <= 0.005, (name, int(flips.sum()))  # measured: 2 / 1000


def test_conversion_is_deterministic_and_reproduces_the_shipped_files() -> None:
    for stem in ("mnist-edge", "har/har-edge", "har/har-cloud"):
        tflite = MODELS_DIR / f"{stem}.tflite"
        model = tflite_to_onnx(tflite)
        assert model.SerializeToString() == tflite.with_suffix(".onnx").read_bytes(), stem


def test_float_cloud_model_converts_exactly(tmp_path: Path) -> None:
    import onnx

    src = MODELS_DIR / "mnist-cloud.tflite"
    out = tmp_path / "c.onnx"
    onnx.save(tflite_to_onnx(src), str(out))
    info = onnx_info(out)
    assert "unchanged" in info.made_by and info.precision == "float"
    x = np.random.default_rng(0).random((7, 28, 28, 1), dtype=np.float32)
    a = open_runner(src, RuntimeSettings(runtime="litert")).predict_real(x)
    b = open_runner(out, RuntimeSettings(runtime="onnxruntime")).predict_real(x)
    np.testing.assert_allclose(a, b, atol=2e-5)  # float32 vs float32: rounding only


def test_an_operator_it_does_not_convert_is_named(tmp_path: Path) -> None:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    from edgecascade.tools.models.dense_tflite import dense_tflite

    w1 = np.ones((4, 6), np.float32)
    data = dense_tflite([(w1, np.zeros(4, np.float32))], input_shape=(6,))
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    for code in model.operatorCodes:  # FULLY_CONNECTED becomes TANH's opcode
        if max(code.builtinCode, code.deprecatedBuiltinCode) == s.BuiltinOperator.FULLY_CONNECTED:
            code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.TANH
    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    bad = tmp_path / "tanh.tflite"
    bad.write_bytes(bytes(b.Output()))
    with pytest.raises(ModelError, match="TANH") as info:
        tflite_to_onnx(bad)
    assert info.value.path == str(bad)
    (tmp_path / "junk.tflite").write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        tflite_to_onnx(tmp_path / "junk.tflite")


def test_registry_round_trips_onnx_entries_and_keeps_tflite_entries_schema_1(
        registry_copy: Path) -> None:
    import json

    reg = load_registry(registry_copy)
    assert len(reg.onnx) == 2 and len(reg.models) == 3
    doc = reg.to_json()
    tflite_docs = [m for m in doc["models"] if m["file"].endswith(".tflite")]
    assert all("format" not in m and "onnx" not in m for m in tflite_docs)
    registry_copy.write_text(json.dumps(doc))
    again = load_registry(registry_copy)
    assert again.onnx == reg.onnx and again.models == reg.models
    edge = reg.for_tier("edge")
    assert reg.get("mnist-edge") is edge  # ids resolve to the TFLite entry
    assert reg.find_by_sha256(reg.onnx[0].sha256) == reg.onnx[0]
    (registry_copy.parent / reg.onnx[0].file).write_bytes(b"damaged")
    with pytest.raises(ModelError, match="size"):
        load_registry(registry_copy)
