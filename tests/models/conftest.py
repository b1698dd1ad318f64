"""Shared fixtures for the model tests (no TensorFlow needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgecascade.models.dataset import Dataset, load_split
from edgecascade.models.registry import DEFAULT_REGISTRY, Registry, load_registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="session")
def test_split() -> Dataset:
    return load_split("test")


@pytest.fixture()
def registry_copy(tmp_path: Path) -> Path:
    """The registry and its model files copied to a scratch folder we may damage."""
    shutil.copy(DEFAULT_REGISTRY, tmp_path / "registry.json")
    reg = load_registry(verify=False)
    for m in (*reg.models, *reg.onnx):  # the TFLite files and their ONNX twins
        shutil.copy(m.path, tmp_path / m.file)
    return tmp_path / "registry.json"
