"""A synthetic workload that is neither MNIST nor HAR: 4-channel x 16-step int8 windows
of three noisy waveforms, and three small models trained on it in numpy and written as
``.tflite`` by :mod:`edgecascade.tools.models.dense_tflite` (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecascade.tools.models.dense_tflite import Int8Calibration, dense_tflite, train_softmax

CHANNELS, STEPS, CLASSES = 4, 16, 3
SCALE = 1.0 / 32.0  # the stored samples: int8, real = q / 32


def windows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x int8 (n, 4, 16), labels, groups): classes are waveform frequencies; each
    group is one stream whose class changes slowly."""
    rng = np.random.default_rng(seed)
    t = np.arange(STEPS)
    labels = np.repeat(rng.integers(0, CLASSES, n // 8 + 1), 8)[:n]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    amp = rng.uniform(0.6, 1.2, (n, CHANNELS, 1))
    wave = np.sin((labels[:, None, None] + 1) * 0.45 * t[None, None, :] + phase)
    real = amp * wave + rng.normal(0, 1.0, (n, CHANNELS, STEPS))
    x = np.clip(np.round(real / SCALE), -128, 127).astype(np.int8)
    groups = np.arange(n) // 40
    return x, labels.astype(np.int64), groups


def write_npz(path: Path, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> Path:
    np.savez_compressed(path, images=x, labels=y.astype(np.uint8), scale=np.float64(SCALE),
                        zero_point=np.int64(0), groups=groups,
                        label_names=np.array(["slow", "mid", "fast"]))
    return path


def build(folder: Path) -> dict[str, Path]:
    """Train the three tiers and write them with calib and test sets; returns paths."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y, _ = windows(1200, 1)
    real = x.astype(np.float32) * SCALE
    mcu = train_softmax(real, y, CLASSES, hidden=(8,), steps=150, lr=0.3, seed=1)
    edge = train_softmax(real, y, CLASSES, hidden=(12,), steps=150, lr=0.3, seed=2)
    cloud = train_softmax(real, y, CLASSES, hidden=(64, 32), steps=500, lr=0.2, seed=3)
    out = {
        "mcu": folder / "a.tflite", "edge": folder / "b.tflite", "cloud": folder / "c.tflite"}
    out["mcu"].write_bytes(dense_tflite(mcu, (CHANNELS, STEPS), Int8Calibration(real)))
    out["edge"].write_bytes(dense_tflite(edge, (CHANNELS, STEPS)))
    out["cloud"].write_bytes(dense_tflite(cloud, (CHANNELS, STEPS)))
    out["calib"] = write_npz(folder / "calib.npz", *windows(600, 2))
    out["test"] = write_npz(folder / "test.npz", *windows(600, 3))
    return out
