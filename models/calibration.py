"""Pure calibration math: expected calibration error and temperature scaling.

Temperature scaling works on log-probabilities (the tiers output softmax
probabilities, int8 ones quantized to 1/256), floored at :data:`PROB_FLOOR`::

    calibrated = softmax(log(max(p, PROB_FLOOR)) / T)
"""

from __future__ import annotations

import numpy as np

PROB_FLOOR = 1e-6  # stands in for int8 softmax zeros (true value < 1/512)
DEFAULT_BINS = 15


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale probabilities (N, C) by a temperature; returns float64 (N, C) summing to 1."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = np.log(np.maximum(np.asarray(probs, dtype=np.float64), PROB_FLOOR)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    p = np.maximum(np.asarray(probs, dtype=np.float64)[np.arange(len(labels)), labels], 1e-12)
    return float(-np.log(p).mean())


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """Expected calibration error of the top-1 confidence, equal-width bins on (0, 1]."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            total += sel.sum() * abs(conf[sel].mean() - correct[sel].mean())
    return float(total / len(labels))


def fit_temperature(probs: np.ndarray, labels: np.ndarray,
                    lo: float = 0.05, hi: float = 20.0) -> float:
    """Temperature minimising the NLL: log-grid search, then golden-section refinement."""
    def loss(log_t: float) -> float:
        return nll(apply_temperature(probs, float(np.exp(log_t))), labels)

    grid = np.linspace(np.log(lo), np.log(hi), 61)
    losses = [loss(g) for g in grid]
    k = int(np.argmin(losses))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    phi = (np.sqrt(5) - 1) / 2
    c, d = b - phi * (b - a), a + phi * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(40):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - phi * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + phi * (b - a)
            fd = loss(d)
    return float(np.exp((a + b) / 2))


def ece_noise_floor(probs: np.ndarray, n_bins: int = DEFAULT_BINS, draws: int = 200,
                    seed: int = 0) -> float:
    """Mean ECE a *perfectly calibrated* model with these top-1 confidences would show on
    this many samples (correctness drawn as Bernoulli(confidence)): the sampling floor
    below which a measured ECE says nothing."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    top = probs.argmax(axis=1)
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(draws):
        hit = rng.random(conf.shape[0]) < conf
        labels = np.where(hit, top, (top + 1) % probs.shape[1])
        total += ece(probs, labels, n_bins)
    return float(total / draws)
