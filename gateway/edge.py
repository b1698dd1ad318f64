"""The edge tier: a model behind the dynamic batcher.

:class:`EdgeModel` is the seam (``model_id``, ``model_version``, ``input_shape``,
``pixels(frame)`` -> one model input, ``classify(inputs) -> [EdgeAnswer]``);
:class:`RunnerEdgeModel` implements it with the runner the models package opens for the
configured runtime (``open_runner``: LiteRT on the CPU, ONNX Runtime on TensorRT, CUDA
or the CPU, or PyTorch) and temperature-scales the probabilities as the calibration
expects; ``info`` says which backend, provider and device really run it. Nothing here
knows the workload: the input's shape, dtype, quantization and layout come from the
model (and its registry entry), and frames are converted by
:func:`edgecascade.models.tensors.frame_to_real`, the one conversion every tier uses.
(``pixels`` keeps its name; for a time-series model the "pixels" are the window's real
values.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgecascade.errors import GatewayError
from edgecascade.models.runners.settings import BackendInfo, RuntimeSettings
from edgecascade.protocol import Frame
from edgecascade.protocol.fields import Text, UInt
from edgecascade.protocol.limits import MAX_ID_LENGTH


class FrameRejected(GatewayError, ValueError):
    """A frame the edge model cannot take (shape, dtype, quantization); ``why`` says why."""

    def __init__(self, why: str) -> None:
        self.why = why
        super().__init__(why)


@dataclass(frozen=True)
class EdgeAnswer:
    label: int
    confidence: float  # temperature-scaled top-1
    margin: float  # top-1 minus top-2 (scaled)
    probs: np.ndarray | None = None  # the scaled distribution (for tier fusion, issue 22)


class EdgeModel(Protocol):
    model_id: str
    model_version: int
    input_shape: tuple[int, ...]

    def pixels(self, frame: Frame) -> np.ndarray:
        """The frame as one model input (``input_shape``); raises :class:`FrameRejected`."""
        ...

    def classify(self, pixels: np.ndarray) -> list[EdgeAnswer]:
        """Stacked inputs (N, *input_shape) -> one answer per input."""
        ...


def answers_from_probs(probs: np.ndarray) -> list[EdgeAnswer]:
    order = np.argsort(probs, axis=1)
    top = order[:, -1]
    rows = np.arange(len(probs))
    p1 = probs[rows, top]
    p2 = probs[rows, order[:, -2]] if probs.shape[1] > 1 else np.zeros(len(probs))
    return [EdgeAnswer(int(t), float(a), float(a - b), p)
            for t, a, b, p in zip(top, p1, p2, probs, strict=True)]


class RunnerEdgeModel:
    def __init__(self, path: str, *, num_threads: int = 1, delegate: str | None = None,
                 temperature: float = 1.0, settings: RuntimeSettings | None = None) -> None:
        from edgecascade.models.runtime import open_runner

        self.runner = open_runner(path, settings or RuntimeSettings(
            num_threads=num_threads, delegate=delegate or None))
        self.info: BackendInfo = self.runner.info
        # Checked once here: every edge Result carries them unchecked (answers.make_result).
        self.model_id = Text(MAX_ID_LENGTH, 1).check(self.runner.model_id, "edge model",
                                                     "model_id")
        self.model_version = UInt(32).check(self.runner.model_version, "edge model",
                                            "model_version")
        self.input_spec = self.runner.input_spec
        self.input_shape: tuple[int, ...] = self.input_spec.shape
        self.temperature = temperature

    def pixels(self, frame: Frame) -> np.ndarray:
        from edgecascade.models.errors import ModelError
        from edgecascade.models.tensors import frame_to_real

        try:
            return frame_to_real(frame, self.input_spec)
        except ModelError as exc:
            raise FrameRejected(exc.problem) from None

    def classify(self, pixels: np.ndarray) -> list[EdgeAnswer]:
        probs = self.runner.predict_real(pixels)
        if self.temperature != 1.0:
            from edgecascade.models.calibration import apply_temperature

            probs = apply_temperature(probs, self.temperature)
        return answers_from_probs(np.asarray(probs, dtype=np.float64))


#: The old name, from when LiteRT was the only runtime.
TFLiteEdgeModel = RunnerEdgeModel
