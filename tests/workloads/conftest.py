"""Workloads for the end-to-end suite: the bundled MNIST, and a synthetic one imported
through ``edgecascade models import`` in the test session itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgecascade.models.workload import Workload, get_workload

from .synthetic import build


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    """Things with stop()/close() to shut down at teardown, last first."""
    items: list[Any] = []
    yield items
    for item in reversed(items):
        (getattr(item, "stop", None) or item.close)()


@pytest.fixture(scope="session")
def imported_synthetic(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    from edgecascade.cli import main

    src = build(tmp_path_factory.mktemp("synthetic-in"))
    out = tmp_path_factory.mktemp("synthetic-workload")
    rc = main(["models", "import", "--name", "synth", "--mcu", str(src["mcu"]),
               "--edge", str(src["edge"]), "--cloud", str(src["cloud"]),
               "--data", str(src["calib"]), "--test", str(src["test"]), "--out", str(out)])
    assert rc == 0
    return get_workload(out)


@pytest.fixture(params=["mnist", "har", "synthetic"])
def workload(request: pytest.FixtureRequest) -> Workload:
    if request.param == "synthetic":
        return request.getfixturevalue("imported_synthetic")
    return get_workload(request.param)


def model_of(workload: Workload, tier: str) -> Path:
    return workload.model_path(tier)
