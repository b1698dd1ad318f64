"""Fixtures for the firmware tests: the parity tool, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cbuild import make


@pytest.fixture(scope="session")
def parity_tool() -> None:
    proc = make("parity")
    if proc.returncode != 0:
        pytest.fail(f"building ec_parity failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak tests of this folder run only when asked for (``-m soak``)."""
    if "soak" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="soak test: run with -m soak")
    for item in items:
        if "soak" in item.keywords and _HERE in item.path.resolve().parents:
            item.add_marker(skip)
