"""The generic complexity signal (any int8 input tensor): C ``ec_complexity_q`` and the
Python twin ``policy.complexity_q`` agree bit for bit, and on raw-pixel images it equals
the pixel complexity the firmware has always computed."""

from __future__ import annotations

import numpy as np
import pytest

from edgecascade.emulator import policy

from .cbuild import run_parity
from .test_parity import bits, compare

pytestmark = pytest.mark.usefixtures("parity_tool")


def test_complexity_q_parity_on_any_shape() -> None:
    rng = np.random.default_rng(15)
    cases = []
    for _ in range(300):
        n = int(rng.choice([768, 784, 9216 // 16, int(rng.integers(1, 2000))]))
        mean = rng.integers(-128, 128, n).astype(np.int8)
        x = mean.copy() if rng.random() < 0.1 else rng.integers(-128, 128, n).astype(np.int8)
        if rng.random() < 0.1:  # extremes: the largest per-element distance
            x[:] = -128
            mean[:] = 127
        cases.append((x, mean))
    lines = [f"complexity_q {x.tobytes().hex()} {m.tobytes().hex()}" for x, m in cases]
    want = [bits(policy.complexity_q(x, m)) for x, m in cases]
    compare(cases, run_parity(lines), want)


def test_complexity_q_equals_pixel_complexity_for_images() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        px = rng.integers(0, 256, 784).astype(np.uint8)
        mean = rng.integers(0, 256, 784).astype(np.uint8)
        q = policy.quantize_pixels(px, float(np.float32(1 / 255)), -128)
        mq = policy.quantize_pixels(mean, float(np.float32(1 / 255)), -128)
        assert policy.complexity_q(q, mq) == policy.complexity(px, mean)


def test_complexity_q_rejects_mismatched_sizes() -> None:
    with pytest.raises(ValueError, match="mean input"):
        policy.complexity_q(np.zeros(3, np.int8), np.zeros(4, np.int8))
