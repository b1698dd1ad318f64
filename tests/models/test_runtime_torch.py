"""The torch backend: an edgecascade ONNX file as a torch module (real torch; the CPU
build here, CUDA where there is one). Skipped, with the reason, without torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecascade.models.registry import MODELS_DIR
from edgecascade.models.runners.providers import ProviderRefused
from edgecascade.models.runtime import RuntimeSettings, open_runner
from tests.models.gpu import requires_cuda

torch = pytest.importorskip("torch", reason="runtime 'torch' needs the torch extra")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import onnx

    from edgecascade.tools.models.onnx_mobilenet import mobilenet_v2

    path = tmp_path_factory.mktemp("mnv2") / "mobilenet_v2_64.onnx"
    onnx.save(mobilenet_v2(64, classes=20), str(path))
    return path


@pytest.mark.parametrize("tflite", ["mnist-edge.tflite", "mnist-cloud.tflite",
                                    "har/har-edge.tflite", "har/har-cloud.tflite"])
def test_torch_gives_onnxruntimes_answers_on_every_shipped_twin(tflite: str) -> None:
    path = MODELS_DIR / tflite
    ort = open_runner(path, RuntimeSettings(runtime="onnxruntime"))
    th = open_runner(path, RuntimeSettings(runtime="torch"))
    assert (th.model_id, th.model_version) == (ort.model_id, ort.model_version)
    assert th.info.backend == "torch" and th.info.provider in ("cpu", "cuda")
    assert "edgecascade" in th.runtime  # our graph runner, not onnx2torch
    x = np.random.default_rng(3).random((9, *ort.input_shape), dtype=np.float32)
    np.testing.assert_allclose(th.predict_real(x), ort.predict_real(x), atol=1e-5)


def test_camera_scale_model_runs_the_same_on_torch_and_onnxruntime(mobilenet: Path) -> None:
    ort = open_runner(mobilenet, RuntimeSettings(runtime="onnxruntime"))
    th = open_runner(mobilenet, RuntimeSettings(runtime="torch", providers=("cpu",)))
    assert ort.input_shape == (64, 64, 3) and ort.num_classes == 20
    px = np.random.default_rng(4).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    a, b = ort.predict(px), th.predict(px)  # raw 3-channel pixels: / 255, as the camera sends
    assert a.shape == (3, 20) and np.allclose(a.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_uneven_same_padding_is_padded_explicitly() -> None:
    from edgecascade.models.runners.torch_graph import _spatial_pad

    x = torch.ones((1, 1, 4, 4))
    same, pad = _spatial_pad(x, [1, 1, 1, 1], 0.0)
    assert same is x and pad == (1, 1)
    padded, pad = _spatial_pad(x, [0, 0, 1, 1], 0.0)  # TensorFlow SAME at stride 2
    assert pad == (0, 0) and tuple(padded.shape) == (1, 1, 5, 5)
    assert float(padded[0, 0, 4, 4]) == 0.0 and float(padded[0, 0, 0, 0]) == 1.0


def test_cuda_asked_without_it_is_refused_unless_fallback_is_allowed() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: nothing to refuse")
    edge = MODELS_DIR / "mnist-edge.tflite"
    with pytest.raises(ProviderRefused, match="'cuda'") as info:
        open_runner(edge, RuntimeSettings(runtime="torch", providers=("cuda",)))
    assert "\n" not in str(info.value) and "allow_cpu_fallback" in str(info.value)
    runner = open_runner(edge, RuntimeSettings(runtime="torch", providers=("cuda",),
                                               allow_cpu_fallback=True, fp16=True))
    assert runner.info.provider == "cpu" and runner.info.fallback
    assert runner.info.precision == "fp32"  # fp16 only on the GPU


@requires_cuda
def test_gpu_runs_agree_with_the_cpu(mobilenet: Path) -> None:
    """On a CUDA machine: ORT-CUDA and torch-CUDA fp32/fp16 against ORT-CPU."""
    x = np.random.default_rng(5).random((8, 64, 64, 3), dtype=np.float32)
    cpu = open_runner(mobilenet, RuntimeSettings(runtime="onnxruntime",
                                                 providers=("cpu",))).predict_real(x)
    import onnxruntime

    ort_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    runs = [(RuntimeSettings(runtime="onnxruntime", providers=("cuda",)), 1e-4, ort_cuda),
            (RuntimeSettings(runtime="torch", providers=("cuda",)), 1e-4,
             torch.cuda.is_available()),
            (RuntimeSettings(runtime="torch", providers=("cuda",), fp16=True), 2e-2,
             torch.cuda.is_available())]
    for settings, atol, here in runs:
        if not here:
            continue
        runner = open_runner(mobilenet, settings)
        assert runner.info.on_gpu and not runner.info.fallback
        np.testing.assert_allclose(runner.predict_real(x), cpu, atol=atol)
