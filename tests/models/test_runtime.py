"""ModelRunner / MicroRunner / frame_to_pixels: behaviour and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgecascade.models.dataset import Dataset
from edgecascade.models.errors import ModelError
from edgecascade.models.micro import MicroRunner
from edgecascade.models.registry import Registry
from edgecascade.models.runtime import ModelRunner, frame_to_pixels
from edgecascade.protocol import Frame


@pytest.fixture(scope="module")
def edge(registry: Registry) -> ModelRunner:
    return ModelRunner(registry.for_tier("edge").path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.tflite"
    with pytest.raises(ModelError) as info:
        ModelRunner(path)
    assert info.value.path == str(path) and "missing" in info.value.problem
    with pytest.raises(ModelError, match="missing"):
        MicroRunner(path)


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x00" * 64])
def test_corrupt_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError) as info:
        ModelRunner(path)
    assert info.value.path == str(path)
    assert "corrupt" in info.value.problem


def test_truncated_model(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "trunc.tflite"
    path.write_bytes(registry.for_tier("mcu").path.read_bytes()[:2000])
    with pytest.raises(ModelError) as info:
        ModelRunner(path)
    assert info.value.path == str(path)


def test_unregistered_copy_uses_stem_and_version_zero(tmp_path: Path,
                                                      registry: Registry) -> None:
    path = tmp_path / "my-model.tflite"
    shutil.copy(registry.for_tier("mcu").path, path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # a different file that still loads
    path.write_bytes(bytes(data))
    r = ModelRunner(path)
    assert (r.model_id, r.model_version) == ("my-model", 0)


@pytest.mark.parametrize("shape", [(2, 28, 27), (28, 28), (2, 28, 28, 3), (0, 28, 28)])
def test_wrong_shape(edge: ModelRunner, shape: tuple[int, ...]) -> None:
    with pytest.raises(ModelError) as info:
        edge.predict(np.zeros(shape, np.uint8))
    assert info.value.path == str(edge.path)
    assert "shape" in info.value.problem or "empty" in info.value.problem


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int32])
def test_wrong_dtype(edge: ModelRunner, dtype: type) -> None:
    with pytest.raises(ModelError, match="uint8") as info:
        edge.predict(np.zeros((1, 28, 28), dtype))
    assert info.value.path == str(edge.path)


def test_batch_sizes_agree(edge: ModelRunner, test_split: Dataset) -> None:
    x = test_split.images[:7]
    batch = edge.predict(x)
    assert batch.shape == (7, 10) and batch.dtype == np.float32
    singles = np.concatenate([edge.predict(x[i:i + 1, ..., None]) for i in range(7)])
    np.testing.assert_allclose(batch, singles, atol=1 / 256 + 1e-6)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=0.05)


def test_micro_wrong_frame(registry: Registry) -> None:
    r = MicroRunner(registry.for_tier("mcu").path)
    with pytest.raises(ModelError, match="int8"):
        r.predict_int8(np.zeros((28, 28), np.uint8))
    with pytest.raises(ModelError, match="shape"):
        r.predict_int8(np.zeros((27, 29), np.int8))


def test_micro_rejects_float_model(registry: Registry) -> None:
    with pytest.raises(ModelError, match="int8"):
        MicroRunner(registry.for_tier("cloud").path, arena_size=512 * 1024)


def test_frame_to_pixels_forms(test_split: Dataset) -> None:
    img = test_split.images[0]
    raw = Frame(data=img.tobytes(), shape=(28, 28), dtype="uint8")
    np.testing.assert_array_equal(frame_to_pixels(raw), img)
    q = (img.astype(np.int16) - 128).astype(np.int8)
    dev = Frame(data=q.tobytes(), shape=(28, 28, 1), dtype="int8",
                scale=float(np.float32(1 / 255)), zero_point=-128)
    np.testing.assert_array_equal(frame_to_pixels(dev), img)
    out = frame_to_pixels(dev)
    assert out.dtype == np.uint8 and out.shape == (28, 28)


def test_frame_to_pixels_errors() -> None:
    with pytest.raises(ModelError, match="squeeze"):
        frame_to_pixels(Frame(data=bytes(30 * 30), shape=(30, 30), dtype="uint8"))
    bad_q = Frame(data=bytes(784), shape=(28, 28), dtype="int8", scale=1.0, zero_point=-128)
    with pytest.raises(ModelError, match="quantization"):
        frame_to_pixels(bad_q)
