"""Fixtures for the firmware tests: the parity tool, built once per session."""

from __future__ import annotations

import pytest

from .cbuild import make


@pytest.fixture(scope="session")
def parity_tool() -> None:
    proc = make("parity")
    if proc.returncode != 0:
        pytest.fail(f"building ec_parity failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
