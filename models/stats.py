"""Frame statistics the device computes; the C core must match these bit for bit.

Complexity definition (also in ``firmware/generated/ec_settings.h``)::

    sum  = sum_i |x_i - mean_i|            exact, uint32 (x, mean: uint8, N = 784)
    complexity = (float)sum / (float)(N * 255)     IEEE float32 division

``(float)sum`` is exact because ``sum <= 784 * 255 < 2**24``.
"""

from __future__ import annotations

import numpy as np

from .errors import ModelError


def abs_diff_sum(pixels_uint8: np.ndarray, mean_uint8: np.ndarray) -> int:
    """Exact ``sum_i |x_i - mean_i|`` (what the C core accumulates in a uint32)."""
    x = np.asarray(pixels_uint8)
    m = np.asarray(mean_uint8)
    if x.dtype != np.uint8 or m.dtype != np.uint8:
        raise ModelError("complexity", f"pixels and mean must be uint8, got {x.dtype}, {m.dtype}")
    if x.size != m.size:
        raise ModelError("complexity", f"frame has {x.size} pixels, mean image has {m.size}")
    return int(np.abs(x.astype(np.int32).ravel() - m.astype(np.int32).ravel()).sum())


def complexity(pixels_uint8: np.ndarray, mean_uint8: np.ndarray) -> float:
    """Mean absolute deviation from the training mean, in [0, 1], float32 arithmetic."""
    s = abs_diff_sum(pixels_uint8, mean_uint8)
    n = np.asarray(mean_uint8).size
    return float(np.float32(s) / np.float32(n * 255))


def complexity_batch(pixels_uint8: np.ndarray, mean_uint8: np.ndarray) -> np.ndarray:
    """Vectorised :func:`complexity` over (N, H, W) frames -> float32 (N,)."""
    x = np.asarray(pixels_uint8)
    m = np.asarray(mean_uint8)
    if x.dtype != np.uint8 or m.dtype != np.uint8 or x[0].size != m.size:
        raise ModelError("complexity", f"need uint8 frames of {m.size} pixels, got "
                                       f"{x.dtype} {x.shape}")
    flat = x.reshape(x.shape[0], -1).astype(np.int32)
    sums = np.abs(flat - m.astype(np.int32).ravel()).sum(axis=1)
    return sums.astype(np.float32) / np.float32(m.size * 255)


def complexity_q_batch(inputs_int8: np.ndarray, mean_int8: np.ndarray) -> np.ndarray:
    """The generic signal over int8 model inputs (N, ...) against the int8 mean input
    (``ec_complexity_q``) -> float32 (N,); equals :func:`complexity_batch` on raw pixels
    quantized with scale 1/255 and zero point -128."""
    x = np.asarray(inputs_int8)
    m = np.asarray(mean_int8)
    if x.dtype != np.int8 or m.dtype != np.int8 or x[0].size != m.size:
        raise ModelError("complexity", f"need int8 inputs of {m.size} values, got "
                                       f"{x.dtype} {x.shape}")
    flat = x.reshape(x.shape[0], -1).astype(np.int32)
    sums = np.abs(flat - m.astype(np.int32).ravel()).sum(axis=1)
    return sums.astype(np.float32) / np.float32(m.size * 255)


def mean_input(inputs_int8: np.ndarray) -> np.ndarray:
    """The int8 mean input of a set (rounded half away from zero): the complexity reference."""
    x = np.asarray(inputs_int8, dtype=np.float64)
    m = np.mean(x, axis=0)
    return np.clip(np.sign(m) * np.floor(np.abs(m) + 0.5), -128, 127).astype(np.int8)
