"""Run every registered tier over a split with the real interpreters (I/O shell)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.models.dataset import Dataset, get_source, load_split
from edgecascade.models.micro import MicroRunner
from edgecascade.models.registry import Registry, load_registry
from edgecascade.models.runtime import ModelRunner, open_model
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


def workload_outputs(split: str, ds: Dataset, mcu: Path, edge: Path, cloud: Path,
                     mean_q: np.ndarray | None) -> tuple[TierOutputs, np.ndarray]:
    """Every tier on one split of any workload, as the running system sees it: the mcu
    input the device computes, and the frame it sends (that input's real values) for the
    edge and cloud. Returns the outputs and the mcu inputs (int8). ``mean_q`` None:
    complexity off (zeros)."""
    from edgecascade.models.stats import complexity_q_batch
    from edgecascade.models.tensors import input_to_real, samples_to_input

    micro = MicroRunner(mcu)
    x_q = samples_to_input(ds.images, ds.scale, ds.zero_point, micro.input_spec)
    frames = input_to_real(x_q, micro.input_spec)
    probs = {
        "mcu": micro.output_quantization.dequantize(micro.predict_int8_batch(x_q)),
        "edge": open_model(edge).predict_real(frames),  # .tflite or .onnx
        "cloud": open_model(cloud).predict_real(frames),
    }
    cx = (complexity_q_batch(x_q, mean_q) if mean_q is not None
          else np.zeros(len(ds), dtype=np.float32))
    return TierOutputs(split, ds.labels, cx, probs), x_q


def split_outputs(workload: Any, split: str, settings: Any) -> TierOutputs:
    """Every tier on one split of a workload (MNIST through :func:`collect`, any other
    through :func:`workload_outputs` with the settings' complexity reference)."""
    from edgecascade.models.workload import MNIST, get_workload

    wl = get_workload(workload)
    if wl.root.resolve() == MNIST.root.resolve():
        return collect(split, wl.registry(), settings.mean_image)
    return workload_outputs(split, wl.load_split(split), wl.model_path("mcu"),
                            wl.model_path("edge"), wl.model_path("cloud"),
                            settings.mean_input)[0]
