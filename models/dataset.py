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
    """One split: ``images`` (N, ...) samples, ``labels`` int64 (N,).

    ``images`` keeps its name for any sensor: uint8 (N, H, W) raw pixels (``scale`` 0,
    the camera convention: intensity ``q / 255``), or 8-bit samples of any shape with
    their quantization (``real = scale * (q - zero_point)``, e.g. int8 IMU windows
    (N, channels, steps)). ``groups`` (optional, (N,)) names the stream each sample
    belongs to (a person, a device); samples of one group are stored in time order.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    scale: float = 0.0
    zero_point: int = 0
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images.dtype not in (np.uint8, np.int8) or self.images.ndim < 2:
            raise DatasetError(self.name, f"samples must be 8-bit (N, ...), got "
                               f"{self.images.dtype} {self.images.shape}")
        if self.images.dtype == np.int8 and not self.scale > 0:
            raise DatasetError(self.name, "int8 samples need a quantization scale > 0")
        if self.labels.shape != (self.images.shape[0],):
            raise DatasetError(self.name, f"labels shape {self.labels.shape} does not match "
                               f"{self.images.shape[0]} images")
        if self.groups is not None and self.groups.shape != self.labels.shape:
            raise DatasetError(self.name, f"groups shape {self.groups.shape} does not match "
                               f"{self.labels.shape[0]} samples")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def raw_pixels(self) -> bool:
        return self.images.dtype == np.uint8 and self.scale == 0.0

    def real(self) -> np.ndarray:
        """float32 real values (N, ...): intensities 0..1 for raw pixels."""
        if self.raw_pixels:
            return (self.images.astype(np.float32) / np.float32(255.0)).astype(np.float32)
        return ((self.images.astype(np.float64) - self.zero_point) * self.scale).astype(
            np.float32)


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
        return read_npz(path, split, self.label_names)

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


def read_npz(path: Path, name: str, label_names: tuple[str, ...] = ()) -> Dataset:
    """A split file: ``images`` (or ``x``), ``labels`` (or ``y``), optional ``scale``,
    ``zero_point``, ``groups`` and ``label_names``."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            images = np.asarray(npz["images" if "images" in keys else "x"])
            labels = np.asarray(npz["labels" if "labels" in keys else "y"]).astype(np.int64)
            scale = float(npz["scale"]) if "scale" in keys else 0.0
            zp = int(npz["zero_point"]) if "zero_point" in keys else 0
            groups = np.asarray(npz["groups"]) if "groups" in keys else None
            if "label_names" in keys:
                label_names = tuple(str(x) for x in npz["label_names"])
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(path, f"unreadable split file: {exc}") from exc
    if not label_names:
        label_names = tuple(str(i) for i in range(int(labels.max()) + 1 if labels.size else 0))
    return Dataset(name, images, labels, label_names, scale, zp, groups)


def save_split(ds: Dataset, path: Path) -> None:
    """Write a split compactly (8-bit samples, uint8 labels, compressed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"images": ds.images,
                                     "labels": ds.labels.astype(np.uint8),
                                     "label_names": np.array(ds.label_names)}
    if not ds.raw_pixels:
        arrays["scale"] = np.asarray(ds.scale, dtype=np.float64)
        arrays["zero_point"] = np.asarray(ds.zero_point, dtype=np.int64)
    if ds.groups is not None:
        arrays["groups"] = ds.groups
    np.savez_compressed(path, allow_pickle=False, **arrays)
