"""Run every registered tier over a split with the real interpreters (I/O shell)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecascade.models.dataset import Dataset, get_source, load_split
from edgecascade.models.micro import MicroRunner
from edgecascade.models.registry import Registry, load_registry
from edgecascade.models.runtime import ModelRunner
from edgecascade.models.stats import complexity_batch


@dataclass(frozen=True)
class TierOutputs:
    split: str
    labels: np.ndarray
    complexity: np.ndarray          # float32 (N,)
    probs: dict[str, np.ndarray]    # tier -> raw float32 probabilities (N, C)


def collect(split: str, registry: Registry | None = None,
            mean_image: np.ndarray | None = None) -> TierOutputs:
    reg = registry if registry is not None else load_registry()
    ds: Dataset = load_split(split)
    mean = mean_image if mean_image is not None else get_source().split_record().train_mean
    probs = {
        "mcu": MicroRunner(reg.for_tier("mcu").path).predict(ds.images),
        "edge": ModelRunner(reg.for_tier("edge").path).predict(ds.images),
        "cloud": ModelRunner(reg.for_tier("cloud").path).predict(ds.images),
    }
    return TierOutputs(split, ds.labels, complexity_batch(ds.images, mean), probs)
