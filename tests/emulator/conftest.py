"""Fixtures for the device-tier tests: one shared frame source (the real mcu model)."""

from __future__ import annotations

import os

import pytest

from edgecascade.emulator.model import FrameSource


@pytest.fixture(scope="session")
def source() -> FrameSource:
    """The shipped mcu .tflite on the shipped test split, through tflite-micro."""
    return FrameSource()


@pytest.fixture
def persistent_broker(broker_factory):
    """A broker whose persistence really works when the tests run as root.

    Started as root, mosquitto drops to the ``mosquitto`` user, which cannot write
    pytest's 0700 temporary directories: no persistence file, so sessions do not
    survive a restart. ``user root`` keeps it able to write there.
    """
    return broker_factory(extra_config="user root" if os.geteuid() == 0 else "")
