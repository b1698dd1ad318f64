"""Wire frames <-> model inputs, for any input the registry describes (pure, numpy only).

Every tier turns a frame into model input the same way, from the model's
:class:`~edgecascade.models.registry.TensorSpec` and nothing else:

* the frame's element count must equal the input's (its shape may differ only by
  dimensions of 1: a (28, 28) frame feeds a (28, 28, 1) input, a (6, 128) window a
  (6, 128) input);
* the frame's values are real numbers ``scale * (q - zero_point)``; a frame already in
  the model's own quantization is passed through bit for bit;
* one convention for cameras: an ``image`` input's raw 8-bit pixels (``uint8``,
  ``scale == 1``, ``zero_point == 0``) are intensities ``q / 255``, and an ``image``
  frame's real values must be intensities in 0..1;
* a frame whose values a quantized input cannot represent (beyond half a step) is
  rejected rather than silently clipped.

    real = frame_to_real(frame, spec)     # float32, spec.shape
    tensor = real_to_input(real[None], spec)  # the model's dtype, quantized
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .errors import ModelError
from .quant import INT_RANGES, Quantization

if TYPE_CHECKING:
    from edgecascade.protocol import Frame

    from .registry import TensorSpec

FRAME_NUMPY = {"uint8": np.uint8, "int8": np.int8}


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def is_raw_pixels(frame: Frame, spec: TensorSpec) -> bool:
    return (spec.layout == "image" and frame.dtype == "uint8" and frame.scale == 1.0
            and frame.zero_point == 0)


def frame_values(frame: Frame, spec: TensorSpec) -> np.ndarray:
    """The frame's integer values, reshaped to ``spec.shape``; raises :class:`ModelError`."""
    where = f"frame {frame.dtype} {tuple(frame.shape)}"
    if frame.dtype not in FRAME_NUMPY:
        raise ModelError(where, f"unsupported frame dtype {frame.dtype!r}")
    if math.prod(frame.shape) != len(frame.data):
        raise ModelError(where, f"{len(frame.data)} bytes do not match the shape")
    if _squeezed(tuple(frame.shape)) != _squeezed(spec.shape):
        raise ModelError(where, f"shape does not match the model input {spec.shape} "
                                f"({spec.layout})")
    return np.frombuffer(frame.data, dtype=FRAME_NUMPY[frame.dtype]).reshape(spec.shape)


def frame_to_real(frame: Frame, spec: TensorSpec) -> np.ndarray:
    """A wire frame -> float32 real values of shape ``spec.shape``."""
    q = frame_values(frame, spec)
    if is_raw_pixels(frame, spec):
        return (q.astype(np.float32) / np.float32(255.0)).astype(np.float32)
    where = f"frame {frame.dtype} {tuple(frame.shape)}"
    if not (math.isfinite(frame.scale) and frame.scale > 0):
        raise ModelError(where, f"invalid scale {frame.scale!r}")
    real = (q.astype(np.float64) - frame.zero_point) * frame.scale
    lo, hi = input_range(spec)
    if real.size and (real.min() < lo or real.max() > hi):
        raise ModelError(where, f"quantization (scale={frame.scale}, zero_point="
                                f"{frame.zero_point}) gives values outside what the model "
                                f"input takes ({lo:.4g}..{hi:.4g})")
    return real.astype(np.float32)


def input_range(spec: TensorSpec) -> tuple[float, float]:
    """The real values a frame may carry into this input (half a step of slack)."""
    lo, hi = -math.inf, math.inf
    if spec.layout == "image":
        lo, hi = -0.5 / 255.0, 1.0 + 0.5 / 255.0
    if spec.quantized:
        qlo, qhi = INT_RANGES[np.dtype(spec.dtype)]
        lo = max(lo, spec.scale * (qlo - spec.zero_point - 0.5))
        hi = min(hi, spec.scale * (qhi - spec.zero_point + 0.5))
    return lo, hi


def frame_to_input(frame: Frame, spec: TensorSpec) -> np.ndarray:
    """A wire frame -> one model input tensor (``spec.shape``, the model's dtype).

    A frame in the model's own dtype and quantization is passed through unchanged.
    """
    if (frame.dtype == spec.dtype and spec.quantized and float(np.float32(frame.scale))
            == float(np.float32(spec.scale)) and frame.zero_point == spec.zero_point):
        return frame_values(frame, spec).copy()
    return real_to_input(frame_to_real(frame, spec)[None], spec)[0]


def real_to_input(real: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Real values (N, *spec.shape) -> the model's input tensor (N, *spec.shape)."""
    arr = np.asarray(real, dtype=np.float32)
    if tuple(arr.shape[1:]) != spec.shape:
        raise ModelError("input", f"expected (N, {', '.join(map(str, spec.shape))}), "
                                  f"got {arr.shape}")
    if spec.dtype == "float32":
        return arr
    if not spec.quantized:
        raise ModelError("input", f"{spec.dtype} input without quantization parameters")
    return Quantization(spec.scale, spec.zero_point).quantize(arr, np.dtype(spec.dtype))


def input_to_real(tensor: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """A model input tensor -> its real values (float32)."""
    if spec.dtype == "float32":
        return np.asarray(tensor, dtype=np.float32)
    return Quantization(spec.scale, spec.zero_point).dequantize(np.asarray(tensor))


def quantize_to(real: np.ndarray, dtype: str, scale: float, zero_point: int) -> np.ndarray:
    """Real values -> ``dtype`` integers with this quantization (round half to even)."""
    lo, hi = INT_RANGES[np.dtype(dtype)]
    q = np.round(np.asarray(real, dtype=np.float64) / scale) + zero_point
    return np.clip(q, lo, hi).astype(dtype)


def samples_to_input(samples: np.ndarray, sample_scale: float, sample_zero_point: int,
                     spec: TensorSpec) -> np.ndarray:
    """Stored 8-bit samples (N, ...) -> the int8/uint8 model input the device computes
    (N, *spec.shape): raw pixels (``sample_scale == 0``) as intensities ``p / 255``,
    other samples requantized from their own quantization in float64."""
    x = np.asarray(samples)
    n = x.shape[0]
    if sample_scale == 0.0 and x.dtype == np.uint8:
        real32 = x.astype(np.float32) / np.float32(255.0)
        return real_to_input(real32.reshape(n, *spec.shape), spec)
    real = (x.astype(np.float64) - sample_zero_point) * sample_scale
    if spec.dtype == "float32":
        return real.astype(np.float32).reshape(n, *spec.shape)
    return quantize_to(real, spec.dtype, spec.scale, spec.zero_point).reshape(n, *spec.shape)
