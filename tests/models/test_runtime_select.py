"""Runtime selection, provider planning and the refusal of a GPU that is not active.

The pure cores (provider plan, active-provider check, settings validation, engine cache
key) are tested on names; the shells with the real onnxruntime CPU build of this
machine, which has no CUDA or TensorRT provider."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgecascade.models.errors import ModelError
from edgecascade.models.registry import MODELS_DIR
from edgecascade.models.runners.onnx import engine_cache_dir, trt_profiles
from edgecascade.models.runners.providers import (
    ProviderRefused,
    active_provider,
    plan_providers,
)
from edgecascade.models.runners.settings import BackendInfo, RuntimeSettings, settings_problems
from edgecascade.models.runtime import open_model, open_runner

pytest.importorskip("onnxruntime")

EDGE = MODELS_DIR / "mnist-edge.tflite"
EDGE_ONNX = MODELS_DIR / "mnist-edge.onnx"
CPU_BUILD = ["AzureExecutionProvider", "CPUExecutionProvider"]
GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


# -- pure: which providers, and may what ONNX Runtime made of it run ---------------------
def test_plan_asks_for_what_the_build_has_and_says_why_not_for_the_rest() -> None:
    plan = plan_providers(("tensorrt", "cuda", "cpu"), CPU_BUILD)
    assert plan.use == ("cpu",)
    assert set(plan.missing) == {"tensorrt", "cuda"}
    assert "onnxruntime-gpu" in plan.missing["cuda"]
    assert plan_providers(("cuda",), GPU_BUILD).use == ("cuda", "cpu")  # CPU closes it
    assert plan_providers((), GPU_BUILD).use == ("tensorrt", "cuda", "cpu")  # best first


def test_a_gpu_asked_for_and_not_active_is_refused_unless_fallback_is_allowed() -> None:
    # the silent fallback: the GPU build has CUDA, but the session only activated the CPU
    plan = plan_providers(("cuda",), GPU_BUILD)
    running, fallback, refusal = active_provider(("cuda",), plan, ["CPUExecutionProvider"],
                                                 allow_cpu_fallback=False)
    assert running == "cpu" and not fallback
    assert refusal is not None and "'cuda'" in refusal and "did not load" in refusal
    assert "allow_cpu_fallback" in refusal and "\n" not in refusal
    assert active_provider(("cuda",), plan, ["CPUExecutionProvider"], True) == \
        ("cpu", True, None)
    # active as asked; TensorRT missing while CUDA runs is a GPU all the same
    plan = plan_providers(("tensorrt", "cuda"), GPU_BUILD)
    assert active_provider(("tensorrt", "cuda"), plan,
                           ["CUDAExecutionProvider", "CPUExecutionProvider"], False) == \
        ("cuda", False, None)
    assert active_provider((), plan_providers((), CPU_BUILD), ["CPUExecutionProvider"],
                           False) == ("cpu", False, None)  # nothing asked: nothing refused


def test_settings_problems_name_each_bad_value() -> None:
    assert settings_problems("onnxruntime", ("tensorrt", "cuda", "cpu")) == []
    keys = dict(settings_problems("tensorflow", ("gpu", "cpu", "cpu")))
    assert set(keys) == {"runtime", "providers[0]", "providers"}
    assert "LiteRT has no CUDA" in dict(settings_problems("litert", ("cuda",)))["providers"]
    assert settings_problems("torch", ("tensorrt",))[0][0] == "providers"


def test_engine_cache_is_keyed_by_model_gpu_and_tensorrt_version(tmp_path: Path) -> None:
    a = engine_cache_dir(str(tmp_path), "ab" * 32, "NVIDIA Jetson AGX Orin", "10.3.0", False)
    assert a == tmp_path / "tensorrt" / f"{'ab' * 8}-nvidia-jetson-agx-orin-trt10.3.0"
    assert engine_cache_dir(str(tmp_path), "cd" * 32, "NVIDIA Jetson AGX Orin", "10.3.0",
                            False) != a
    assert engine_cache_dir(str(tmp_path), "ab" * 32, "NVIDIA H100", "10.3.0", False) != a
    assert engine_cache_dir(str(tmp_path), "ab" * 32, "NVIDIA Jetson AGX Orin", "8.6.2",
                            False) != a
    assert engine_cache_dir(str(tmp_path), "ab" * 32, "NVIDIA Jetson AGX Orin", "10.3.0",
                            True).name.endswith("-fp16")
    profiles = trt_profiles(EDGE_ONNX.read_bytes())
    assert profiles["trt_profile_min_shapes"] == "input:1x28x28x1"
    assert profiles["trt_profile_max_shapes"] == "input:256x28x28x1"


# -- the shells on this machine's real onnxruntime (CPU build) ----------------------------
def test_litert_is_the_default_and_says_so() -> None:
    runner = open_runner(EDGE, RuntimeSettings())
    assert runner.info == BackendInfo("litert", "xnnpack", runner.info.device, "int8")
    assert "backend=litert provider=xnnpack" in runner.info.describe()


def test_onnxruntime_runs_the_registered_twin_under_the_same_identity() -> None:
    lite = open_runner(EDGE, RuntimeSettings(runtime="litert"))
    ort = open_runner(EDGE, RuntimeSettings(runtime="onnxruntime", num_threads=1))
    assert ort.path == EDGE_ONNX and (ort.model_id, ort.model_version) == \
        (lite.model_id, lite.model_version) == ("mnist-edge", 1)
    assert ort.input_spec.shape == lite.input_spec.shape and ort.input_spec.layout == "image"
    px = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    assert (ort.predict(px).argmax(1) == lite.predict(px).argmax(1)).all()
    assert ort.predict_real(np.zeros((0, 28, 28, 1), np.float32)).shape == (0, 10)
    with pytest.raises(ModelError, match="float32"):
        ort.predict_real(np.zeros((2, 28, 28), np.float32))


def test_cuda_asked_on_a_machine_without_it_is_refused_in_one_line() -> None:
    with pytest.raises(ProviderRefused) as info:
        open_runner(EDGE, RuntimeSettings(runtime="onnxruntime", providers=("cuda",)))
    text = str(info.value)
    assert "\n" not in text and "'cuda'" in text and "allow_cpu_fallback" in text
    assert info.value.path == str(EDGE_ONNX)


def test_cpu_fallback_when_allowed_says_it_fell_back() -> None:
    runner = open_runner(EDGE, RuntimeSettings(runtime="onnxruntime",
                                               providers=("tensorrt", "cuda"),
                                               allow_cpu_fallback=True))
    assert runner.info.provider == "cpu" and runner.info.fallback
    assert "fallback" in runner.info.describe()
    assert runner.info.to_json()["provider"] == "cpu"


def test_file_and_runtime_mismatches_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="LiteRT runs .tflite"):
        open_runner(EDGE_ONNX, RuntimeSettings(runtime="litert"))
    lone = tmp_path / "lone.tflite"  # registered nowhere: no twin to run
    shutil.copy(EDGE, lone)
    lone.write_bytes(lone.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="models onnx"):
        open_runner(lone, RuntimeSettings(runtime="onnxruntime"))
    with pytest.raises(ModelError, match="missing"):
        open_runner(tmp_path / "x.onnx", RuntimeSettings(runtime="onnxruntime"))
    (tmp_path / "x.onnx").write_bytes(EDGE.read_bytes())
    with pytest.raises(ModelError, match="TFLite flatbuffer"):
        open_runner(tmp_path / "x.onnx", RuntimeSettings(runtime="onnxruntime"))
    (tmp_path / "y.onnx").write_bytes(b"\x08" * 64)
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        open_runner(tmp_path / "y.onnx", RuntimeSettings(runtime="onnxruntime"))


def test_auto_on_a_cpu_machine_keeps_litert_for_tflite_and_ort_for_onnx() -> None:
    assert open_runner(EDGE, RuntimeSettings(runtime="auto")).info.backend == "litert"
    assert open_runner(EDGE_ONNX, RuntimeSettings(runtime="auto")).info.backend in (
        "onnxruntime", "torch")
    assert open_model(EDGE_ONNX).info.backend == "onnxruntime"
    assert open_model(EDGE).info.backend == "litert"


def test_gpu_benchmark_skips_each_absent_backend_once_with_the_reason() -> None:
    from edgecascade.tools.bench import gpu

    gpu._SKIPPED.clear()
    refused: dict[str, str] = {}
    model = gpu.Model("mnist-edge", EDGE, "LiteRT-CPU")
    found = {b.name: gpu.open_backend(b, model, refused) for b in gpu.backends("")}
    assert found["LiteRT-CPU"] is not None and found["ORT-CPU"] is not None
    assert found["ORT-CPU"].info.provider == "cpu"
    absent = [name for name, runner in found.items() if runner is None]
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        assert "ORT-CUDA" in absent  # the CPU build of onnxruntime
    assert len(gpu.skipped_lines()) == len(absent) == len(refused)
    # each says why: a provider not active in what is installed, or a runtime not installed
    assert all("not active" in line or "needs" in line for line in gpu.skipped_lines())
    assert gpu.open_backend(gpu.backends("")[2], model, refused) is None  # asked once only
    assert len(gpu.skipped_lines()) == len(absent)
    t = gpu.Timing.of(32, [0.01, 0.02, 0.03])
    assert t.fps == 32 / 0.02 and t.calls == 3
