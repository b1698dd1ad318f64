"""The device's model and frame source: the mcu ``.tflite`` run by tflite-micro.

Replayed frames repeat, and int8 inference is deterministic, so each frame index is
run through the interpreter once and its derived answer (top-k, confidences,
complexity, the quantized frame) is kept: a fleet of a thousand devices costs one
inference per distinct frame, not one per report.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.errors import EmulatorError
from edgecascade.models.errors import ModelError
from edgecascade.models.micro import MicroRunner
from edgecascade.models.registry import MODELS_DIR
from edgecascade.protocol import Frame

from .policy import Thresholds, complexity, quantize_pixels, topk

log = logging.getLogger(__name__)

DEFAULT_MODEL = MODELS_DIR / "mnist-mcu.tflite"
#: How many classes a report lists.
TOP_K = 3


class EmulatorModelError(EmulatorError, ValueError):
    """The model cannot run on this frame source; ``path`` names the model."""

    def __init__(self, path: str | Path, why: str) -> None:
        self.path = str(path)
        self.why = why
        super().__init__(f"{path}: {why}")


@dataclass(frozen=True)
class FrameAnswer:
    """What the device computes for one replayed frame (everything but the decision)."""

    index: int
    label: int
    classes: tuple[int, ...]
    confidences: tuple[int, ...]
    complexity: float
    frame: Frame


def _cascade_settings(path: Path | None) -> Any:
    from edgecascade.models.cascade import load_settings

    try:
        return load_settings(path)
    except ModelError as exc:
        log.warning("no calibrated device settings; using defaults", extra={"why": str(exc)})
        return None


def device_mean_image(path: Path | None = None) -> np.ndarray:
    """The mean image the device compares frames with (``models/thresholds.json``)."""
    from edgecascade.models import dataset

    settings = _cascade_settings(path)
    if settings is not None:
        return np.asarray(settings.mean_image, dtype=np.uint8)
    return dataset.get_source().split_record().train_mean


def device_thresholds(path: Path | None = None) -> Thresholds:
    """The calibrated thresholds (``models/thresholds.json``, through the one reader),
    else the one set of defaults: what the firmware boots with, before the gateway's
    DeviceConfig arrives."""
    settings = _cascade_settings(path)
    return Thresholds() if settings is None else settings.thresholds


class FrameSource:
    """Frames replayed from a shipped split, each answered once by the mcu model."""

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL,
        *,
        split: str = "test",
        images: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        mean: np.ndarray | None = None,
        k: int = TOP_K,
    ) -> None:
        from edgecascade.models import dataset

        self.path = Path(model_path)
        if not self.path.is_file():
            raise EmulatorModelError(self.path, "model file missing")
        if images is None or labels is None:
            ds = dataset.load_split(split)
            images, labels = ds.images, ds.labels
        if mean is None:
            mean = device_mean_image()
        self.images = images
        self.labels = labels
        self.mean = mean
        self.k = k
        try:
            self._runner = MicroRunner(self.path)
        except ModelError as exc:
            raise EmulatorModelError(self.path, str(exc)) from None
        self.model_id, self.model_version = self._runner.model_id, self._runner.model_version
        want = tuple(self._runner.input_shape[:2])
        if want != tuple(images.shape[1:]):
            raise EmulatorModelError(
                self.path, f"model input shape {want} does not match frames {images.shape[1:]}"
            )
        if mean.shape != images.shape[1:]:
            raise EmulatorModelError(
                self.path, f"mean image shape {mean.shape} does not match frames "
                           f"{images.shape[1:]}"
            )
        self.in_q = self._runner.input_quantization
        self.out_q = self._runner.output_quantization
        self._lock = threading.Lock()
        self._memo: dict[int, FrameAnswer] = {}

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def quantize(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels -> the int8 input tensor, with the model's input quantization."""
        return quantize_pixels(pixels, self.in_q.scale, self.in_q.zero_point)

    def answer(self, index: int) -> FrameAnswer:
        """The device's answer for frame ``index`` (modulo the split size)."""
        index %= len(self)
        cached = self._memo.get(index)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._memo.get(index)
            if cached is not None:
                return cached
            pixels = self.images[index]
            x = self.quantize(pixels)
            out = self._runner.predict_int8(x)
            classes, confidences = topk(
                out, self.out_q.scale, self.out_q.zero_point, self.k
            )
            frame = Frame(
                data=x.tobytes(),
                shape=(*pixels.shape, 1),
                dtype="int8",
                scale=self.in_q.scale,
                zero_point=self.in_q.zero_point,
            )
            result = FrameAnswer(
                index=index,
                label=int(self.labels[index]),
                classes=tuple(classes),
                confidences=tuple(confidences),
                complexity=complexity(pixels, self.mean),
                frame=frame,
            )
            self._memo[index] = result
            return result
