"""How a model's ``host_latency_ms`` (registry) is measured: one place for the registry
build, ``models import`` and the ONNX twins."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

#: Timed single-sample inferences per model, after one warm-up.
LATENCY_RUNS = 50


def host_latency_ms(predict: Callable[[np.ndarray], object], sample: np.ndarray,
                    runs: int = LATENCY_RUNS) -> float:
    """Median wall time in ms of ``predict(sample)`` on this host (one sample, after a
    warm-up), rounded to 0.1 us."""
    predict(sample)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        predict(sample)
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) * 1e3, 4)
