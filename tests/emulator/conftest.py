"""Fixtures for the device-tier tests: one shared frame source (the real mcu model)."""

from __future__ import annotations

import pytest

from edgecascade.emulator.model import FrameSource


@pytest.fixture(scope="session")
def source() -> FrameSource:
    """The shipped mcu .tflite on the shipped test split, through tflite-micro."""
    return FrameSource()

