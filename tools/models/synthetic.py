"""``edgecascade models synthetic``: a deterministic imported workload whose tiers differ.

MNIST's tiers nearly agree (the cascade already matches cloud-only at 2% cloud), so
routing has little headroom there. This builds a 10-class workload in which the three
tiers differ a lot, trained in numpy and written as ``.tflite`` by
:mod:`.dense_tflite` (no TensorFlow), then runs it through ``models import`` like any
user's models: 8 x 8 int8 "images", each class a mixture of four prototypes plus
noise; the mcu tier is a linear int8 model of the top five rows, the edge a small MLP
of the bottom five, the cloud a larger MLP of all of it. Same seed, same bytes.

    edgecascade models synthetic --out /tmp/synthetic
    edgecascade models evaluate --workload /tmp/synthetic
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .dense_tflite import Int8Calibration, Layer, dense_tflite, train_softmax

SIDE, CLASSES, MODES = 8, 10, 4
SCALE = 1.0 / 32.0  # stored samples are int8, real = q / 32
SEED = 22
CALIB, TEST, TRAIN = 1500, 1500, 6000
#: What each small tier looks at: the device model the top five rows, the edge model
#: the bottom five (two shared), the cloud all eight. Their errors differ, which is
#: what pooling the device's and the edge's evidence can use.
MCU_VIEW = np.zeros((SIDE, SIDE), np.float32)
MCU_VIEW[:5] = 1.0
EDGE_VIEW = np.zeros((SIDE, SIDE), np.float32)
EDGE_VIEW[3:] = 1.0
LABELS = tuple(f"c{i}" for i in range(CLASSES))


def prototypes(seed: int = SEED) -> np.ndarray:
    """(CLASSES, MODES, 64) class prototypes, fixed by the seed."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (CLASSES, MODES, SIDE * SIDE))


def samples(n: int, seed: int, protos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x int8 (n, 8, 8), labels): a prototype of the class, a random gain, noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    mode = rng.integers(0, MODES, n)
    gain = rng.uniform(0.75, 1.35, (n, 1))
    real = gain * protos[y, mode] + rng.normal(0.0, 1.0, (n, SIDE * SIDE))
    x = np.clip(np.round(real / SCALE), -128, 127).astype(np.int8)
    return x.reshape(n, SIDE, SIDE), y.astype(np.int64)


def _sees(layers: list[Layer], view: np.ndarray) -> list[Layer]:
    """Zero the first layer's weights outside ``view``: the model ignores those inputs."""
    (w, b), rest = layers[0], layers[1:]
    return [(w * view.reshape(1, -1), b), *rest]


def _write_npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    np.savez_compressed(path, images=x, labels=y.astype(np.uint8), scale=np.float64(SCALE),
                        zero_point=np.int64(0), label_names=np.array(LABELS))
    return path


def build_sources(folder: Path) -> dict[str, Path]:
    """Train the tiers and write them with the calibration and test splits."""
    folder.mkdir(parents=True, exist_ok=True)
    protos = prototypes()
    x, y = samples(TRAIN, SEED + 1, protos)
    real = x.astype(np.float32) * SCALE
    layers = {
        "mcu": _sees(train_softmax(real * MCU_VIEW, y, CLASSES, hidden=(), steps=100, lr=0.3,
                                   seed=1), MCU_VIEW),
        "edge": _sees(train_softmax(real * EDGE_VIEW, y, CLASSES, hidden=(24,), steps=300,
                                    lr=0.3, seed=2), EDGE_VIEW),
        "cloud": train_softmax(real, y, CLASSES, hidden=(128, 64), steps=700, lr=0.2, seed=3),
    }
    out = {t: folder / f"src-{t}.tflite" for t in layers}
    out["mcu"].write_bytes(dense_tflite(layers["mcu"], (SIDE, SIDE), Int8Calibration(real)))
    out["edge"].write_bytes(dense_tflite(layers["edge"], (SIDE, SIDE)))
    out["cloud"].write_bytes(dense_tflite(layers["cloud"], (SIDE, SIDE)))
    out["calib"] = _write_npz(folder / "calib.npz", *samples(CALIB, SEED + 2, protos))
    out["test"] = _write_npz(folder / "test.npz", *samples(TEST, SEED + 3, protos))
    return out


def build(out: Path, log: Callable[[str], None] = print) -> Path:
    """Build the sources next to ``out`` and import them into the workload ``out``."""
    from .importer import ImportRequest, run_import
    from .search import Objective

    src = build_sources(out.parent / f"{out.name}-src")
    run_import(ImportRequest(name="synthetic", mcu=src["mcu"], edge=src["edge"],
                             cloud=src["cloud"], calib=src["calib"], out=out,
                             test=src["test"], objective=Objective("max_cloud_share", 0.08)),
               log)
    return out
