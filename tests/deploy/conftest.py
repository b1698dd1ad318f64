"""A mosquitto started from a given config text (the shipped snippet, or a stock one)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgecascade.mqtt import BrokerSettings
from edgecascade.probe import reach
from edgecascade.tools.broker import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture
def mosquitto_from(tmp_path: Path) -> Iterator[Callable[[str], BrokerSettings]]:
    """``start(config_text)`` with ``{port}`` and ``{dir}`` filled in -> its settings."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(binary, os.X_OK):
        pytest.fail("mosquitto is not installed (scripts/test installs it)")
    procs: list[subprocess.Popen[bytes]] = []

    def start(text: str, username: str | None = None,
              password: str | None = None) -> BrokerSettings:
        workdir = tmp_path / f"mosquitto{len(procs)}"
        workdir.mkdir()
        port = free_port()
        conf = workdir / "mosquitto.conf"
        root = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(root + text.format(port=port, dir=workdir))
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        procs.append(proc)
        settings = BrokerSettings(f"mqtt://127.0.0.1:{port}", username=username,
                                  password=password)
        deadline = time.monotonic() + 30
        while reach(settings, timeout=1.0) is not None:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            assert time.monotonic() < deadline, "mosquitto did not listen"
            time.sleep(0.05)
        return settings

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
