"""Raw sensor input for the emulator: photographs and recorded IMU logs, turned into the
model's input by the same preprocessing the board runs (``edgecascade.models.preprocess``,
the twin of ``firmware/core/ec_preprocess.c``).

* ``images:DIR``: every photograph in DIR (``.jpg .jpeg .png .bmp .gif .tif .tiff .webp``,
  any size, decoded to RGB by Pillow and turned upright by its EXIF orientation), in
  name order, as the camera frame source would see it: center crop, box resize, gray,
  inversion, quantization. No ground truth: the
  ledger records label -1 and the frame index (the photo's place in name order).
* ``imu:FILE.csv``: a recorded MPU-6050 log, one sample a row at the HAR model's rate
  (50 Hz), columns ``ax,ay,az,gx,gy,gz`` in raw sensor counts (+-4 g, +-250 deg/s, as the
  board configures the sensor), an optional ``label`` column (a class name, the window's
  first row's label). Non-overlapping windows of 128 rows; a last partial window is
  dropped and logged.

A bad folder or file is one :class:`SourceError` (what, where, why); the CLI exits 2.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.errors import EmulatorError
from edgecascade.models import preprocess
from edgecascade.models.dataset import Dataset
from edgecascade.models.errors import ModelError

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
IMU_COLUMNS = ("ax", "ay", "az", "gx", "gy", "gz")


class SourceError(EmulatorError, ValueError):
    """A raw source that cannot be read: ``where`` (file or folder) and ``why``."""

    def __init__(self, where: str | Path, why: str) -> None:
        self.where = str(where)
        self.why = why
        super().__init__(f"{where}: {why}")


@dataclass(frozen=True)
class RawSource:
    """Preprocessed samples of a raw source: ``dataset`` feeds ``FrameSource``,
    ``inputs`` are the int8 model inputs the board would compute, ``names`` name each
    sample (a photo's file name, ``FILE#window``)."""

    dataset: Dataset
    inputs: np.ndarray
    names: tuple[str, ...]


def parse_source(spec: str) -> tuple[str, Path]:
    """``images:DIR`` or ``imu:FILE`` -> (kind, path); SourceError otherwise."""
    kind, sep, path = spec.partition(":")
    if not sep or kind not in ("images", "imu") or not path:
        raise SourceError(spec, "expected images:DIR or imu:FILE.csv")
    return kind, Path(path)


def load_source(spec: str, entry: Any) -> RawSource:
    """The samples of ``spec`` for the mcu model ``entry`` (a registry ModelEntry)."""
    kind, path = parse_source(spec)
    try:
        if kind == "images":
            return load_photos(path, preprocess.image_contract(entry))
        return load_imu_csv(path, preprocess.imu_contract(entry), entry.labels,
                            entry.input.scale)
    except ModelError as exc:
        raise SourceError(spec, f"the model {entry.id} cannot take this source: {exc}") from None


def _decode_rgb(path: Path) -> np.ndarray:
    """The photo upright, as a viewer shows it: a phone stores a portrait shot sideways
    with an EXIF orientation tag, which Pillow does not apply by itself."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(ImageOps.exif_transpose(img).convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise SourceError(path, f"not a readable image ({exc})") from None


def load_photos(folder: Path, contract: preprocess.ImageContract) -> RawSource:
    if not folder.is_dir():
        raise SourceError(folder, "not a folder")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if not files:
        raise SourceError(folder, f"no photographs ({', '.join(PHOTO_SUFFIXES)})")
    pixels, inputs = [], []
    for f in files:
        rgb = _decode_rgb(f)
        h, w = rgb.shape[:2]
        px, x = preprocess.image_to_input(rgb.tobytes(), "rgb888", w, h, contract)
        pixels.append(px)
        inputs.append(x)
    labels = np.full(len(files), -1, dtype=np.int64)
    ds = Dataset("photos", np.stack(pixels), labels, ())
    return RawSource(ds, np.stack(inputs), tuple(f.name for f in files))


def load_imu_csv(path: Path, contract: preprocess.ImuContract, label_names: tuple[str, ...],
                 input_scale: float) -> RawSource:
    """Windows of a raw log -> the int8 model inputs, carried in the model's own
    quantization (``input_scale``, the contract's zero point) so the emulator passes
    them through unchanged."""
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(path, f"not a readable CSV file ({exc})") from None
    if not rows or any(c not in rows[0] for c in IMU_COLUMNS):
        raise SourceError(path, f"needs a header with columns {','.join(IMU_COLUMNS)}")
    counts = np.zeros((len(rows), len(IMU_COLUMNS)), dtype=np.int16)
    labels = []
    for i, row in enumerate(rows):
        try:
            values = [int(row[c]) for c in IMU_COLUMNS]
        except (TypeError, ValueError):
            raise SourceError(f"{path}:{i + 2}", "counts must be integers") from None
        if any(not -32768 <= v <= 32767 for v in values):
            raise SourceError(f"{path}:{i + 2}", "counts must fit int16 (-32768..32767)")
        counts[i] = values
        name = (row.get("label") or "").strip()
        if name and name not in label_names:
            raise SourceError(f"{path}:{i + 2}", f"unknown label {name!r}; expected one of "
                                                 f"{', '.join(label_names)}")
        labels.append(label_names.index(name) if name else -1)
    n = len(rows) // contract.steps
    if n == 0:
        raise SourceError(path, f"{len(rows)} samples: a window needs {contract.steps}")
    if len(rows) % contract.steps:
        log.warning("partial IMU window dropped",
                    extra={"file": str(path), "samples": len(rows) % contract.steps})
    windows = counts[:n * contract.steps].reshape(n, contract.steps, len(IMU_COLUMNS))
    inputs = np.stack([preprocess.imu_to_input(w, contract) for w in windows])
    win_labels = np.array([labels[i * contract.steps] for i in range(n)], dtype=np.int64)
    ds = Dataset("imu", inputs, win_labels, label_names, input_scale, contract.zero_point)
    return RawSource(ds, inputs, tuple(f"{path.name}#{i}" for i in range(n)))


def write_imu_csv(path: Path, counts: np.ndarray, labels: list[str] | None = None) -> None:
    """Write a raw MPU-6050 log (rows of counts) in the format :func:`load_imu_csv` reads."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*IMU_COLUMNS, *(["label"] if labels is not None else [])])
        for i, row in enumerate(np.asarray(counts, dtype=np.int16).tolist()):
            w.writerow([*row, *([labels[i]] if labels is not None else [])])
