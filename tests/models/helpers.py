"""Small helpers shared by the model tests."""

from __future__ import annotations

import numpy as np


def int8_frames(images: np.ndarray) -> np.ndarray:
    """Raw pixels -> the mcu input tensor (scale 1/255, zero point -128): q = pixel - 128."""
    return (images.astype(np.int16) - 128).astype(np.int8)[..., None]
