"""Threshold search and cascade semantics on synthetic outputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgecascade.models.cascade import (
    TIER_CLOUD,
    TIER_DEVICE,
    TIER_EDGE,
    Thresholds,
    run_cascade,
)
from edgecascade.tools.models.search import Objective, choose, evaluate_grid


def one_hot(cls: np.ndarray, conf: np.ndarray, n: int = 10) -> np.ndarray:
    p = np.full((len(cls), n), 0.0)
    p[np.arange(len(cls)), cls] = conf
    p[np.arange(len(cls)), (cls + 1) % n] = 1 - conf
    return p


def make(seed: int = 0, n: int = 600) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    dconf = rng.choice(np.arange(128, 256) / 256, n)
    dcls = np.where(rng.random(n) < dconf, labels, (labels + 3) % 10)
    econf = rng.uniform(0.5, 1.0, n)
    ecls = np.where(rng.random(n) < econf, labels, (labels + 4) % 10)
    ccls = np.where(rng.random(n) < 0.99, labels, (labels + 5) % 10)
    cx = rng.uniform(0, 0.5, n).astype(np.float32)
    return one_hot(dcls, dconf), cx, one_hot(ecls, econf), one_hot(ccls, np.full(n, 0.99)), labels


def test_cascade_semantics() -> None:
    dev = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    cx = np.array([0.1, 0.9, 0.1, 0.1], np.float32)
    edge = np.array([[0.1, 0.9], [0.1, 0.9], [0.95, 0.05], [0.6, 0.4]])
    cloud = np.array([[0.0, 1.0]] * 4)
    o = run_cascade(dev, cx, edge, cloud, Thresholds(0.8, 0.5, 0.5, 0.9))
    assert o.tier.tolist() == [TIER_DEVICE, TIER_EDGE, TIER_EDGE, TIER_CLOUD]
    assert o.pred.tolist() == [0, 1, 0, 1]
    assert o.leave_device_share == 0.75 and o.cloud_share == 0.25


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_cloud_share_objective(seed: int) -> None:
    dev, cx, edge, cloud, labels = make(seed)
    grid = evaluate_grid(dev, cx, edge, cloud, labels)
    op = choose(grid, Objective("max_cloud_share", 0.1, 0.4), 0.99)
    assert op.cloud_share <= 0.1 and op.leave_device_share <= 0.4
    o = run_cascade(dev, cx, edge, cloud, op.thresholds)
    assert o.accuracy(labels) == pytest.approx(op.accuracy)
    assert o.cloud_share == pytest.approx(op.cloud_share)
    feasible = (grid.cloud <= 0.1) & (grid.leave[:, None] <= 0.4)
    assert op.accuracy == pytest.approx(grid.accuracy[feasible].max())


def test_within_objective_minimises_cloud_share() -> None:
    dev, cx, edge, cloud, labels = make(3)
    grid = evaluate_grid(dev, cx, edge, cloud, labels)
    cloud_only = float((cloud.argmax(1) == labels).mean())
    op = choose(grid, Objective("within", 0.05, 1.0), cloud_only)
    assert op.accuracy >= cloud_only - 0.05
    ok = grid.accuracy >= cloud_only - 0.05
    assert op.cloud_share == pytest.approx(grid.cloud[ok].min())


def test_infeasible_objective_raises() -> None:
    dev, cx, edge, cloud, labels = make(4)
    grid = evaluate_grid(dev, cx, edge, cloud, labels)
    with pytest.raises(ValueError, match="no thresholds"):
        choose(grid, Objective("within", 0.0, 0.0), 1.01)
    with pytest.raises(ValueError):
        Objective("fastest", 1.0)
