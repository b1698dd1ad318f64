"""Datasets the models are trained, calibrated and evaluated on.

Run-time side: needs numpy only. A dataset is reached through a
:class:`DatasetSource`; the bundled MNIST subset is the default source. Another
dataset (for example accelerometer windows) plugs in by implementing the same
protocol and registering it in :data:`SOURCES`; nothing in the gateway or the
firmware changes.

Only the ``calib`` and ``test`` splits ship with the package (see
``models/data/README.md``). The ``train`` split is rebuilt from the original
data by ``edgecascade models train``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelError

DATA_DIR = Path(__file__).resolve().parent / "data"
SPLIT_NAMES = ("train", "calib", "test")
SHIPPED_SPLITS = ("calib", "test")


#: A split is missing, unknown or malformed: the models package's one exception,
#: :class:`ModelError` (``path`` names the split or file, ``problem`` says what is wrong).
#: The old name stays so ``except DatasetError`` keeps working.
DatasetError = ModelError


@dataclass(frozen=True)
class Dataset:
    """One split: ``images`` uint8 (N, H, W) raw pixels, ``labels`` int64 (N,)."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise DatasetError(self.name, f"images must be uint8 (N,H,W), got "
                               f"{self.images.dtype} {self.images.shape}")
        if self.labels.shape != (self.images.shape[0],):
            raise DatasetError(self.name, f"labels shape {self.labels.shape} does not match "
                               f"{self.images.shape[0]} images")

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class SplitRecord:
    """How the original data was split (the generated ``split.json``)."""

    dataset: str
    source: str
    seed: int
    sizes: Mapping[str, int]
    stratified: bool
    indices_sha256: Mapping[str, str]
    train_mean: np.ndarray  # uint8 (H, W): per-pixel training mean, rounded

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> SplitRecord:
        mean = np.asarray(doc["train_mean"], dtype=np.uint8)
        return cls(
            dataset=str(doc["dataset"]),
            source=str(doc["source"]),
            seed=int(doc["seed"]),  # type: ignore[call-overload]
            sizes={str(k): int(v) for k, v in dict(doc["sizes"]).items()},  # type: ignore[call-overload]
            stratified=bool(doc["stratified"]),
            indices_sha256={str(k): str(v) for k, v in dict(doc["indices_sha256"]).items()},  # type: ignore[call-overload]
            train_mean=mean,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "source": self.source,
            "seed": self.seed,
            "sizes": dict(self.sizes),
            "stratified": self.stratified,
            "indices_sha256": dict(self.indices_sha256),
            "train_mean": self.train_mean.astype(int).tolist(),
        }


class DatasetSource(Protocol):
    """Where a dataset's splits come from."""

    @property
    def name(self) -> str: ...

    @property
    def label_names(self) -> tuple[str, ...]: ...

    def load_split(self, split: str) -> Dataset: ...

    def split_record(self) -> SplitRecord: ...


def _npz_path(data_dir: Path, dataset: str, split: str) -> Path:
    return data_dir / f"{dataset}_{split}.npz"


@dataclass(frozen=True)
class BundledNpzSource:
    """Splits stored as ``<data_dir>/<name>_<split>.npz`` (``images``, ``labels``)."""

    name: str
    label_names: tuple[str, ...]
    data_dir: Path = DATA_DIR

    def load_split(self, split: str) -> Dataset:
        if split not in SPLIT_NAMES:
            raise DatasetError(split, f"unknown split; expected one of {SPLIT_NAMES}")
        path = _npz_path(self.data_dir, self.name, split)
        if not path.is_file():
            hint = (" (the train split is not shipped: training rebuilds it from the "
                    "original data)") if split not in SHIPPED_SPLITS else ""
            raise DatasetError(path, f"split file missing{hint}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                images = np.asarray(npz["images"])
                labels = np.asarray(npz["labels"]).astype(np.int64)
        except (OSError, KeyError, ValueError) as exc:
            raise DatasetError(path, f"unreadable split file: {exc}") from exc
        return Dataset(split, images, labels, self.label_names)

    def split_record(self) -> SplitRecord:
        path = self.data_dir / f"{self.name}_split.json"
        try:
            return SplitRecord.from_json(json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise DatasetError(path, "split record missing") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(path, f"malformed split record: {exc}") from exc


MNIST = BundledNpzSource(name="mnist", label_names=tuple(str(d) for d in range(10)))
SOURCES: dict[str, DatasetSource] = {"mnist": MNIST}
DEFAULT_DATASET = "mnist"


def get_source(dataset: str = DEFAULT_DATASET) -> DatasetSource:
    try:
        return SOURCES[dataset]
    except KeyError:
        raise DatasetError(dataset, f"unknown dataset; known: {sorted(SOURCES)}") from None


def load_split(name: str, dataset: str = DEFAULT_DATASET) -> Dataset:
    """Load one split (``"calib"`` or ``"test"``; ``"train"`` only after training)."""
    return get_source(dataset).load_split(name)


def save_split(ds: Dataset, path: Path) -> None:
    """Write a split compactly (uint8 images, uint8 labels, compressed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=ds.images, labels=ds.labels.astype(np.uint8))
