"""The HAPT converter reads an old-pandas pickle without pandas (a tiny synthetic one
made here with the same structure), windows it and splits people disjointly."""

from __future__ import annotations

import gzip
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from edgecascade.tools.models import hapt


def _fake_pandas(monkeypatch: pytest.MonkeyPatch) -> dict[str, type]:
    """Classes under pandas module names, so pickle writes what old pandas wrote."""
    made = {}
    for parent in ("pandas", "pandas.core", "pandas.core.internals", "pandas.core.indexes"):
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    for module, name in [("pandas.core.frame", "DataFrame"),
                         ("pandas.core.internals.managers", "BlockManager"),
                         ("pandas.core.indexes.base", "Index")]:
        mod = types.ModuleType(module)
        cls = type(name, (), {"__module__": module,
                              "__getstate__": lambda self: self.__dict__["_s"],
                              "__setstate__": lambda self, s: None})
        setattr(mod, name, cls)
        monkeypatch.setitem(sys.modules, module, mod)
        made[name] = cls
    base = sys.modules["pandas.core.indexes.base"]
    index_cls = made["Index"]

    def _new_Index(cls: type, d: dict) -> object:  # noqa: N802 - pandas' name
        return cls()

    _new_Index.__module__ = "pandas.core.indexes.base"
    _new_Index.__qualname__ = "_new_Index"
    base._new_Index = _new_Index  # type: ignore[attr-defined]

    class IndexRef:
        def __init__(self, names: list[str]) -> None:
            self.names = names

        def __reduce__(self) -> tuple:
            return (_new_Index, (index_cls, {"data": np.array(self.names, dtype=object),
                                             "name": None}))

    made["IndexRef"] = IndexRef  # type: ignore[assignment]
    return made


def _frame(made: dict, signals: np.ndarray, labels: np.ndarray) -> object:
    manager = made["BlockManager"]()
    ref = made["IndexRef"]
    manager._s = ([ref([*hapt.CHANNELS, "sequence", "label"]), ref(["rows"])],
                  [signals, np.stack([np.arange(labels.size), labels])],
                  [ref(list(hapt.CHANNELS)), ref(["sequence", "label"])], {})
    frame = made["DataFrame"]()
    frame._s = {"_data": manager}
    return frame


def test_reads_an_old_pandas_pickle_without_pandas(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    made = _fake_pandas(monkeypatch)
    rng = np.random.default_rng(0)
    doc = {}
    for person in range(1, 31):
        labels = np.repeat([1, 4, -1, 6], hapt.STEPS)  # walking, sitting, unlabelled, laying
        labels[hapt.STEPS - 5:hapt.STEPS] = 7  # a short transition at the end of walking
        doc[person] = [_frame(made, rng.normal(0, 1, (6, labels.size)), labels)]
    path = tmp_path / "HAPT.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(doc, f, protocol=2)
    for module in [m for m in sys.modules if m.split(".")[0] == "pandas"]:
        monkeypatch.delitem(sys.modules, module)  # the reader must not need them
    recs = hapt.load_recordings(path)
    assert len(recs) == 30 and recs[0].signals.shape == (6, 4 * hapt.STEPS)
    x, y = hapt.windows(recs[0])
    assert y.tolist() == [0, 3, 5]  # the 96%-pure walking window is kept, unlabelled dropped
    np.testing.assert_array_equal(x[1], recs[0].signals[:, hapt.STEPS:2 * hapt.STEPS])
    splits = hapt.build_splits(recs)
    people = {k: {int(g) for g in v.groups} for k, v in splits.items()}
    assert sum(len(p) for p in people.values()) == 30
    assert not (people["train"] & people["calib"] or people["train"] & people["test"]
                or people["calib"] & people["test"])
    assert splits["test"].images.dtype == np.int8 and splits["test"].scale == hapt.SCALE


def test_refuses_anything_but_pandas_stand_ins_and_numpy(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump({1: [Path("x")]}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        hapt.load_recordings(path)
