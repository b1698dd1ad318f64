"""The device's model and frame source: the mcu ``.tflite`` run by tflite-micro.

Replayed frames repeat, and int8 inference is deterministic, so each frame index is
run through the interpreter once and its derived answer (top-k, confidences,
complexity, the quantized frame) is kept: a fleet of a thousand devices costs one
inference per distinct frame, not one per report.
"""

from __future__ import annotations

import logging
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.errors import EmulatorError
from edgecascade.models.errors import ModelError
from edgecascade.models.micro import MicroRunner
from edgecascade.models.preprocess import pixels_to_input
from edgecascade.models.registry import MODELS_DIR
from edgecascade.protocol import Frame

from .policy import Thresholds, complexity_q, topk

log = logging.getLogger(__name__)

DEFAULT_MODEL = MODELS_DIR / "mnist-mcu.tflite"  # the default workload's mcu tier
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
    if settings is not None and settings.mean_image is not None:
        return np.asarray(settings.mean_image, dtype=np.uint8)
    return dataset.get_source().split_record().train_mean


def device_thresholds(path: Path | None = None) -> Thresholds:
    """The calibrated thresholds (``models/thresholds.json``, through the one reader),
    else the one set of defaults: what the firmware boots with, before the gateway's
    DeviceConfig arrives."""
    settings = _cascade_settings(path)
    return Thresholds() if settings is None else settings.thresholds


class FrameSource:
    """Frames replayed from a workload's split, each answered once by the mcu model.

    Everything comes from the workload (:mod:`edgecascade.models.workload`): the mcu
    model and its input spec (any shape: a 28x28 image, a 6x128 IMU window), the
    samples, the complexity reference (``mean_input``) or ``off``. Raw-pixel images are
    quantized as the board's frame sources do (``ec_pre_quantize_u8``, twin
    :func:`edgecascade.models.preprocess.pixels_to_input`); other samples carry their
    own quantization and are requantized to the model's. A split with ``groups``
    (one person's recording each) is replayed as streams: each device plays one group
    in time order (:meth:`frame_index`).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        split: str = "test",
        images: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        mean: np.ndarray | None = None,
        k: int = TOP_K,
        workload: Any = None,  # a Workload, a bundled name or a workload folder
        dataset: Any = None,  # a Dataset of raw sensor samples (emulator.sources)
    ) -> None:
        from edgecascade.models.dataset import Dataset
        from edgecascade.models.workload import get_workload

        wl = get_workload(workload) if workload is not None else get_workload()
        self.workload = wl
        self.path = Path(model_path) if model_path is not None else wl.model_path("mcu")
        if not self.path.is_file():
            raise EmulatorModelError(self.path, "model file missing")
        if dataset is not None:
            ds = dataset
        elif images is None or labels is None:
            try:
                ds = wl.load_split(split)
            except ModelError as exc:
                raise EmulatorModelError(self.path, str(exc)) from None
        else:
            ds = Dataset(split, images, labels, ())
        self.dataset = ds
        self.images, self.labels = ds.images, ds.labels
        self.k = k
        try:
            self._runner = MicroRunner(self.path)
        except ModelError as exc:
            raise EmulatorModelError(self.path, str(exc)) from None
        self.model_id, self.model_version = self._runner.model_id, self._runner.model_version
        self.spec = self._runner.input_spec
        self.in_q = self._runner.input_quantization
        self.out_q = self._runner.output_quantization
        sample = tuple(d for d in ds.images.shape[1:] if d != 1)
        if sample != tuple(d for d in self.spec.shape if d != 1):
            raise EmulatorModelError(
                self.path, f"model input shape {self.spec.shape} does not match frames "
                           f"{ds.images.shape[1:]}")
        settings = _cascade_settings(wl.thresholds_path)
        self.complexity_on = settings is None or settings.complexity_kind != "off"
        self.mean = mean if mean is not None else (
            settings.mean_image if settings is not None and settings.mean_image is not None
            else None)
        if settings is not None and settings.mean_input is not None and mean is None:
            self.mean_q = np.asarray(settings.mean_input, dtype=np.int8)
        elif self.mean is not None:
            if self.mean.shape != ds.images.shape[1:]:
                raise EmulatorModelError(
                    self.path, f"mean image shape {self.mean.shape} does not match frames "
                               f"{ds.images.shape[1:]}")
            self.mean_q = self.quantize(np.asarray(self.mean, dtype=ds.images.dtype))
        else:
            self.mean_q = self.quantize(np.zeros(ds.images.shape[1:], ds.images.dtype))
        self.streams = _streams(ds.groups)
        self._lock = threading.Lock()
        self._memo: dict[int, FrameAnswer] = {}

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def frame_index(self, device_id: str, seq: int, stride: int) -> int:
        """Which sample a device reports at ``seq``: in a streamed split, its group's
        samples in time order (the group chosen by the device id); else a stride walk."""
        key = zlib.crc32(device_id.encode())
        if self.streams:
            stream = self.streams[key % len(self.streams)]
            return int(stream[seq % len(stream)])
        return (key % len(self) + seq * stride) % len(self)

    def quantize(self, sample: np.ndarray) -> np.ndarray:
        """One sample -> the int8 model input (``spec.shape``)."""
        from edgecascade.models.tensors import samples_to_input

        if self.dataset.raw_pixels:  # the board's ec_pre_quantize_u8, bit for bit
            q = pixels_to_input(sample, self.in_q.scale, self.in_q.zero_point)
            return q.reshape(self.spec.shape)
        return samples_to_input(np.asarray(sample)[None], self.dataset.scale,
                                self.dataset.zero_point, self.spec)[0]

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
            x = self.quantize(self.images[index])
            out = self._runner.predict_int8(x)
            classes, confidences = topk(
                out, self.out_q.scale, self.out_q.zero_point, self.k
            )
            frame = Frame(
                data=x.tobytes(),
                shape=self.spec.shape,
                dtype="int8",
                scale=self.in_q.scale,
                zero_point=self.in_q.zero_point,
            )
            result = FrameAnswer(
                index=index,
                label=int(self.labels[index]),
                classes=tuple(classes),
                confidences=tuple(confidences),
                complexity=complexity_q(x, self.mean_q) if self.complexity_on else 0.0,
                frame=frame,
            )
            self._memo[index] = result
            return result


def _streams(groups: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Sample indices per group, in stored (time) order; empty without groups."""
    if groups is None:
        return ()
    return tuple(np.flatnonzero(groups == g) for g in dict.fromkeys(groups.tolist()))
