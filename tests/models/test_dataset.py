"""The run-time dataset loader (numpy only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecascade.models.dataset import (
    BundledNpzSource,
    Dataset,
    DatasetError,
    load_split,
    save_split,
)


def test_shipped_splits() -> None:
    for name in ("calib", "test"):
        ds = load_split(name)
        assert ds.images.dtype == np.uint8 and ds.images.shape == (1000, 28, 28)
        assert ds.labels.shape == (1000,) and set(ds.labels.tolist()) == set(range(10))
        assert ds.label_names == tuple("0123456789")


def test_unknown_and_unshipped_splits(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown split"):
        load_split("validation")
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_split("test", dataset="har")
    src = BundledNpzSource("mnist", ("a",), tmp_path)
    with pytest.raises(DatasetError, match="not shipped"):
        src.load_split("train")


def test_another_source_plugs_in(tmp_path: Path) -> None:
    ds = Dataset("test", np.zeros((4, 8, 3), np.uint8), np.arange(4), ("a", "b", "c", "d"))
    save_split(ds, tmp_path / "har_test.npz")
    got = BundledNpzSource("har", ds.label_names, tmp_path).load_split("test")
    np.testing.assert_array_equal(got.images, ds.images)
    np.testing.assert_array_equal(got.labels, ds.labels)


def test_bad_dataset_shapes() -> None:
    with pytest.raises(DatasetError):
        Dataset("x", np.zeros((2,), np.uint8), np.zeros(2), ())  # no sample axes
    with pytest.raises(DatasetError):
        Dataset("x", np.zeros((2, 3), np.int8), np.zeros(2), ())  # int8 without a scale
    with pytest.raises(DatasetError):
        Dataset("x", np.zeros((2, 3, 3), np.uint8), np.zeros(3), ())
