"""The mcu model gives the same answers through ai-edge-litert and tflite-micro."""

from __future__ import annotations

import numpy as np
import pytest

from edgecascade.models.dataset import Dataset
from edgecascade.models.micro import MicroRunner
from edgecascade.models.registry import Registry
from edgecascade.models.runtime import ModelRunner

from .helpers import int8_frames

pytest.importorskip("tflite_micro")


def test_mcu_parity_on_every_test_image(registry: Registry, test_split: Dataset) -> None:
    mcu = registry.for_tier("mcu")
    frames = int8_frames(test_split.images)
    # Built-in kernels without the XNNPACK delegate: XNNPACK rounds differently
    # (up to several LSB), the reference/builtin kernels match TFLM to 1 LSB.
    litert = ModelRunner(mcu.path, delegate="none").predict_input(frames)
    micro = MicroRunner(mcu.path).predict_int8_batch(frames)
    assert litert.dtype == micro.dtype == np.int8
    diff = np.abs(litert.astype(np.int16) - micro.astype(np.int16))
    worst = int(diff.argmax() // diff.shape[1])
    assert diff.max() <= 1, f"image {worst}: litert {litert[worst]} vs micro {micro[worst]}"
    mismatch = np.flatnonzero(litert.argmax(1) != micro.argmax(1))
    assert mismatch.size == 0, f"top-1 differs on test images {mismatch.tolist()}"


def test_micro_predict_matches_predict_int8(registry: Registry, test_split: Dataset) -> None:
    runner = MicroRunner(registry.for_tier("mcu").path)
    probs = runner.predict(test_split.images[:5])
    q = np.stack([runner.predict_int8(f) for f in int8_frames(test_split.images[:5])])
    np.testing.assert_array_equal(probs, (q.astype(np.float32) + 128) / 256)
    assert runner.arena_size == registry.for_tier("mcu").arena_bytes
