"""Pure helpers for affine (scale, zero point) quantization and pixel checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ModelError

INT_RANGES = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


@dataclass(frozen=True)
class Quantization:
    """``real = scale * (q - zero_point)``; ``scale == 0`` means not quantized."""

    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0

    def quantize(self, real: np.ndarray, dtype: np.dtype) -> np.ndarray:
        lo, hi = INT_RANGES[np.dtype(dtype)]
        q = np.round(real / self.scale) + self.zero_point
        return np.clip(q, lo, hi).astype(dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return ((q.astype(np.float32) - np.float32(self.zero_point))
                * np.float32(self.scale)).astype(np.float32)


def as_pixel_batch(pixels: np.ndarray, hw: tuple[int, int], where: str) -> np.ndarray:
    """Validate raw pixels (N,H,W) or (N,H,W,1) uint8 and return (N,H,W,1) uint8."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise ModelError(where, f"pixels must be uint8 raw 0..255, got dtype {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[1:3] != hw or arr.shape[3] != 1:
        raise ModelError(
            where, f"pixels must have shape (N, {hw[0]}, {hw[1]}) or (N, {hw[0]}, {hw[1]}, 1), "
                   f"got {np.asarray(pixels).shape}")
    if arr.shape[0] == 0:
        raise ModelError(where, "empty batch")
    return arr


def pixels_to_input(pixels: np.ndarray, dtype: np.dtype, quant: Quantization) -> np.ndarray:
    """Raw uint8 pixels -> model input tensor (pixels are scaled to 0..1 first)."""
    real = pixels.astype(np.float32) / np.float32(255.0)
    if np.dtype(dtype) == np.float32:
        return real
    if not quant.quantized:
        raise ModelError("input", f"{np.dtype(dtype)} input without quantization parameters")
    return quant.quantize(real, np.dtype(dtype))
