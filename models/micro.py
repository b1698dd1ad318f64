"""Run the mcu tier through the TFLite Micro Python interpreter (same kernels as the MCU).

Used by the device emulator (:meth:`MicroRunner.predict_int8`) and by the parity tests.
Needs the ``tflite-micro`` package (``emulator`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .quant import Quantization, as_pixel_batch, pixels_to_input
from .registry import ModelEntry, TensorSpec
from .runtime import _read_model, interpreter_spec, lookup_entry
from .tensors import real_to_input

__all__ = ["DEFAULT_ARENA_BYTES", "MicroRunner"]

#: Arena used when no measured size is known: the mcu budget (32 KB).
DEFAULT_ARENA_BYTES = 32 * 1024


def _quant(details: dict[str, Any]) -> Quantization:
    qp = details.get("quantization_parameters") or {}
    scales = np.asarray(qp.get("scales", []), dtype=np.float64).ravel()
    zps = np.asarray(qp.get("zero_points", []), dtype=np.int64).ravel()
    if scales.size == 0:
        return Quantization(0.0, 0)
    return Quantization(float(scales[0]), int(zps[0]))


class MicroRunner:
    """One tflite-micro interpreter, batch 1; ``predict`` loops over the batch."""

    def __init__(self, path: str | Path, *, arena_size: int | None = None) -> None:
        from tflite_micro.python.tflite_micro import runtime as tflm

        self.path = Path(path)
        content = _read_model(self.path)
        entry = lookup_entry(self.path)
        self.entry: ModelEntry | None = entry
        self.model_id: str = entry.id if entry else self.path.stem
        self.model_version: int = entry.version if entry else 0
        if arena_size is None:
            arena_size = entry.arena_bytes if entry and entry.arena_bytes else DEFAULT_ARENA_BYTES
        self.arena_size = int(arena_size)
        try:
            self._interp = tflm.Interpreter.from_bytes(content, arena_size=self.arena_size)
            in_d = self._interp.get_input_details(0)
            out_d = self._interp.get_output_details(0)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(self.path, f"tflite-micro cannot load the model with a "
                                        f"{self.arena_size}-byte arena: {exc}") from exc
        shape = tuple(int(x) for x in in_d["shape"])
        if len(shape) < 2 or shape[0] != 1:
            raise ModelError(self.path, f"expected a batch-1 input (1, ...), got {shape}")
        self.input_shape: tuple[int, ...] = shape[1:]
        self.input_dtype = np.dtype(in_d["dtype"])
        self.input_quantization = _quant(in_d)
        self.output_dtype = np.dtype(out_d["dtype"])
        self.output_quantization = _quant(out_d)
        self.num_classes = int(out_d["shape"][-1])
        if self.input_dtype != np.int8 or self.output_dtype != np.int8:
            raise ModelError(self.path, f"mcu model must be int8 in and out, got "
                                        f"{self.input_dtype} -> {self.output_dtype}")
        self.input_spec: TensorSpec = interpreter_spec(
            self.path, self.input_shape, self.input_dtype, self.input_quantization,
            entry.input.layout if entry else "")

    def predict_int8(self, frame_int8: np.ndarray) -> np.ndarray:
        """One int8 input (any shape with the input's element count) -> int8 (classes,)."""
        arr = np.asarray(frame_int8)
        if arr.dtype != np.int8 or arr.size != int(np.prod(self.input_shape)):
            raise ModelError(self.path, f"frame must be int8 with shape "
                                        f"{self.input_shape}, got {arr.dtype} {arr.shape}")
        squeezed = tuple(d for d in arr.shape if d != 1)
        if squeezed != tuple(d for d in self.input_shape if d != 1):
            raise ModelError(self.path, f"frame must have shape {self.input_shape}, "
                                        f"got {arr.shape}")
        try:
            self._interp.set_input(arr.reshape(1, *self.input_shape), 0)
            self._interp.invoke()
            out = np.array(self._interp.get_output(0))
        except (ValueError, RuntimeError) as exc:
            raise ModelError(self.path, f"tflite-micro invoke failed: {exc}") from exc
        return out.reshape(-1).astype(np.int8)

    def predict_int8_batch(self, tensor: np.ndarray) -> np.ndarray:
        """(N, *input_shape) int8 -> (N, classes) int8."""
        return np.stack([self.predict_int8(t) for t in tensor])

    def predict_real(self, real: np.ndarray) -> np.ndarray:
        """Real-valued inputs (N, *input_shape) -> float32 probabilities (N, classes)."""
        tensor = real_to_input(real, self.input_spec)
        return self.output_quantization.dequantize(self.predict_int8_batch(tensor))

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Raw uint8 pixels (N, H, W) or (N, H, W, 1) -> float32 probabilities (N, classes)."""
        batch = as_pixel_batch(pixels, (self.input_shape[0], self.input_shape[1]),
                               str(self.path))
        tensor = pixels_to_input(batch, self.input_dtype, self.input_quantization)
        return self.output_quantization.dequantize(self.predict_int8_batch(tensor))
