"""Calibration math on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgecascade.models.calibration import (
    apply_temperature,
    ece,
    ece_noise_floor,
    fit_temperature,
)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def synthetic(n: int, temperature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the model reports softmax(z * temperature)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, (n, 10))
    true = softmax(z)
    labels = np.array([rng.choice(10, p=p) for p in true])
    return softmax(z * temperature), labels


def test_ece_hand_computed() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])
    # bins: 0.9 -> acc 0.5 (gap 0.4), 0.6 -> acc 1.0 (gap 0.4); weights 1/2 each
    assert ece(probs, labels, n_bins=10) == pytest.approx(0.4)
    assert ece(np.array([[1.0, 0.0]]), np.array([0])) == pytest.approx(0.0)


def test_ece_of_calibrated_model_is_near_noise_floor() -> None:
    probs, labels = synthetic(4000, 1.0)
    assert ece(probs, labels) < 0.03
    assert ece_noise_floor(probs, draws=20) < 0.03


def test_overconfident_model_is_fixed_by_fitted_temperature() -> None:
    probs, labels = synthetic(4000, 2.0)  # logits doubled: overconfident
    t = fit_temperature(probs, labels)
    assert t == pytest.approx(2.0, rel=0.1)
    before = ece(probs, labels)
    after = ece(apply_temperature(probs, t), labels)
    assert after <= 0.5 * before


def test_underconfident_model_gets_temperature_below_one() -> None:
    probs, labels = synthetic(4000, 0.5)
    assert fit_temperature(probs, labels) == pytest.approx(0.5, rel=0.1)


prob_rows = arrays(np.float64, (5, 4), elements=st.floats(0.01, 1.0)).map(
    lambda a: a / a.sum(axis=1, keepdims=True))


@settings(max_examples=50, deadline=None)
@given(prob_rows, st.floats(0.1, 10.0))
def test_temperature_keeps_ranking_and_normalisation(probs: np.ndarray, t: float) -> None:
    out = apply_temperature(probs, t)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-9)
    # The top-1 class never changes (ties aside).
    top = probs.argmax(axis=1)
    assert np.all(out[np.arange(5), top] >= out.max(axis=1) - 1e-12)


@settings(max_examples=50, deadline=None)
@given(prob_rows)
def test_temperature_one_is_identity(probs: np.ndarray) -> None:
    np.testing.assert_allclose(apply_temperature(probs, 1.0), probs, atol=1e-9)


def test_bad_temperature() -> None:
    with pytest.raises(ValueError):
        apply_temperature(np.ones((1, 2)) / 2, 0.0)
