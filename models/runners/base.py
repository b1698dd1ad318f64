"""What the ONNX-file runners share: the registry entry, the input spec, and the
conversions from real values and raw pixels to the float32 batch the model takes.

An ONNX file made by ``edgecascade models onnx`` (or imported) takes float32 real
values (N, *input shape) in the TFLite file's layout and returns float32 probabilities
(N, classes): no quantization on either side, whatever the TFLite twin's dtype.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import ModelError
from ..quant import Quantization, as_pixel_batch
from ..registry import ModelEntry, TensorSpec
from .settings import BackendInfo

FLOAT = Quantization(0.0, 0)


def read_onnx_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ModelError(path, "model file is missing")
    data = path.read_bytes()
    if len(data) < 16 or data[4:8] == b"TFL3":
        raise ModelError(path, "not an ONNX model (a TFLite flatbuffer: run it with "
                               "runtime = \"litert\")")
    return data


class FloatRunner:
    """Base of :class:`~.onnx.OnnxRunner` and :class:`~.torch.TorchRunner`; a subclass
    sets ``info`` and implements :meth:`_run` on a float32 batch."""

    input_dtype = np.dtype(np.float32)
    output_dtype = np.dtype(np.float32)
    input_quantization = FLOAT
    output_quantization = FLOAT
    info: BackendInfo
    runtime: str  # the package that runs it

    def _describe(self, path: Path, shape: tuple[int, ...], num_classes: int,
                  entry: ModelEntry | None) -> None:
        """Set the identity and input spec from the model's own shape and its entry."""
        self.path = path
        self.entry = entry
        self.model_id: str = entry.id if entry else path.stem
        self.model_version: int = entry.version if entry else 0
        if not shape or any(d < 1 for d in shape):
            raise ModelError(path, f"input shape {shape} must be static but for the batch")
        self.input_shape: tuple[int, ...] = shape
        self.num_classes = num_classes
        try:
            self.input_spec = TensorSpec(shape, "float32", 0.0, 0,
                                         entry.input.layout if entry else "")
        except ValueError as exc:
            raise ModelError(path, f"unsupported input: {exc}") from None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.path)!r}, id={self.model_id!r}, "
                f"version={self.model_version}, {self.info.describe()})")

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_input(self, tensor: np.ndarray) -> np.ndarray:
        """A float32 batch (N, *input_shape) -> float32 probabilities (N, classes)."""
        arr = np.asarray(tensor)
        if arr.dtype != np.float32 or tuple(arr.shape[1:]) != self.input_shape:
            raise ModelError(self.path, f"input tensor must be float32 "
                                        f"(N, {', '.join(map(str, self.input_shape))}), got "
                                        f"{arr.dtype} {arr.shape}")
        if len(arr) == 0:
            return np.zeros((0, self.num_classes), np.float32)
        return np.asarray(self._run(np.ascontiguousarray(arr)), dtype=np.float32)

    def predict_real(self, real: np.ndarray) -> np.ndarray:
        """Real values (N, *input_shape) -> probabilities; raw uint8 pixels into an
        ``image`` input go through :meth:`predict` (the camera convention)."""
        if np.asarray(real).dtype == np.uint8 and self.input_spec.layout == "image":
            return self.predict(real)
        return self.predict_input(np.asarray(real, dtype=np.float32))

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Raw uint8 pixels (N, H, W) or (N, H, W, C) -> probabilities (pixels / 255)."""
        arr = np.asarray(pixels)
        batch = (arr if arr.dtype == np.uint8 and tuple(arr.shape[1:]) == self.input_shape
                 else as_pixel_batch(arr, (self.input_shape[0], self.input_shape[1]),
                                     str(self.path)))
        real = (batch.astype(np.float32) / np.float32(255.0)).reshape(len(batch),
                                                                     *self.input_shape)
        return self.predict_input(real)


class Runner(Protocol):
    """The one model-runner interface: LiteRT's ``ModelRunner``, :class:`OnnxRunner`,
    :class:`TorchRunner` (what the gateway's edge tier and the cloud worker use)."""

    path: Path
    model_id: str
    model_version: int
    input_shape: tuple[int, ...]
    input_spec: TensorSpec
    num_classes: int
    info: BackendInfo
    runtime: str

    def predict_real(self, real: np.ndarray) -> np.ndarray: ...

    def predict(self, pixels: np.ndarray) -> np.ndarray: ...
