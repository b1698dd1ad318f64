"""The model seam: what the worker needs from a classifier, and the real one.

:class:`Classifier` is the protocol the worker codes against; :func:`load_classifier`
returns the real implementation: the runner ``edgecascade.models.runtime.open_runner``
picks for the configured runtime (LiteRT on the CPU; ONNX Runtime on TensorRT, CUDA or
the CPU; PyTorch), plus the frame conversion every tier uses
(:func:`edgecascade.models.tensors.frame_to_real`, driven by the model's input spec:
shape, dtype, quantization, layout; no workload constants here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgecascade.errors import CloudError
from edgecascade.protocol import Frame

if TYPE_CHECKING:
    from edgecascade.models.runners.settings import RuntimeSettings

    from .config import ModelConfig


class InputError(CloudError, ValueError):
    """A frame cannot be turned into model input (wrong shape, dtype...). Per-item."""


class Classifier(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def model_version(self) -> int: ...

    def to_pixels(self, frame: Frame) -> np.ndarray:
        """One model input (real values, the model's input shape), or raise
        :class:`InputError`."""
        ...

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """float32 probabilities (N, classes) for stacked inputs (N, *input shape)."""
        ...


@dataclass
class RunnerClassifier:
    """A ``ModelRunner`` behind the :class:`Classifier` protocol."""

    runner: Any

    @property
    def model_id(self) -> str:
        return str(self.runner.model_id)

    @property
    def model_version(self) -> int:
        return int(self.runner.model_version)

    def to_pixels(self, frame: Frame) -> np.ndarray:
        from edgecascade.models.errors import ModelError
        from edgecascade.models.tensors import frame_to_real

        try:
            return frame_to_real(frame, self.runner.input_spec)
        except (ModelError, ValueError) as exc:
            raise InputError(str(getattr(exc, "problem", exc))) from None

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        return np.asarray(self.runner.predict_real(pixels), dtype=np.float32)

    @property
    def info(self) -> Any:
        """What runs the model (``edgecascade.models.runners.settings.BackendInfo``)."""
        return self.runner.info


def load_classifier(path: str, num_threads: int = 1,
                    settings: RuntimeSettings | None = None) -> RunnerClassifier:
    """Load the cloud model (LiteRT unless ``settings`` name another runtime); raises
    ``edgecascade.models.errors.ModelError`` if unusable (``ProviderRefused`` when a GPU
    asked for is not active)."""
    from dataclasses import replace

    from edgecascade.models.runners.settings import RuntimeSettings
    from edgecascade.models.runtime import open_runner

    s = replace(settings or RuntimeSettings(), num_threads=num_threads)
    return RunnerClassifier(open_runner(path, s))


def classifier_loader(model: ModelConfig) -> Callable[[str, int], RunnerClassifier]:
    """``load_classifier`` with ``[model]``'s runtime settings (start and every swap)."""
    return partial(load_classifier, settings=model.runtime_settings())
