"""The complexity score: exact uint32 sum, one float32 division (the C core's definition)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays

from edgecascade.models.dataset import Dataset, get_source
from edgecascade.models.errors import ModelError
from edgecascade.models.stats import abs_diff_sum, complexity, complexity_batch

frames = arrays(np.uint8, (28, 28))


def reference(x: np.ndarray, m: np.ndarray) -> float:
    total = 0
    for a, b in zip(x.ravel().tolist(), m.ravel().tolist(), strict=True):
        total += abs(a - b)
    assert 0 <= total < 2**32
    return float(np.float32(np.float32(total) / np.float32(784 * 255)))


@settings(max_examples=100, deadline=None)
@given(frames, frames)
def test_matches_scalar_reference(x: np.ndarray, m: np.ndarray) -> None:
    c = complexity(x, m)
    assert c == reference(x, m)
    assert np.float32(c) == c  # representable in float32: what the C core gets
    assert complexity_batch(x[None], m)[0] == np.float32(c)


def test_known_values() -> None:
    zero = np.zeros((28, 28), np.uint8)
    full = np.full((28, 28), 255, np.uint8)
    assert complexity(zero, zero) == 0.0
    assert complexity(full, zero) == 1.0
    one = zero.copy()
    one[3, 4] = 200
    assert abs_diff_sum(one, zero) == 200
    assert complexity(one, zero) == float(np.float32(200) / np.float32(199920))


def test_errors() -> None:
    with pytest.raises(ModelError, match="uint8"):
        complexity(np.zeros((28, 28), np.int16), np.zeros((28, 28), np.uint8))
    with pytest.raises(ModelError, match="pixels"):
        complexity(np.zeros((28, 27), np.uint8), np.zeros((28, 28), np.uint8))


def test_batch_on_real_frames(test_split: Dataset) -> None:
    mean = get_source().split_record().train_mean
    batch = complexity_batch(test_split.images[:50], mean)
    singles = [complexity(x, mean) for x in test_split.images[:50]]
    assert batch.tolist() == singles
