"""Deployment tests: the built distribution, mosquitto from a given config text."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgecascade.mqtt import BrokerSettings
from edgecascade.tools.broker import Broker, BrokerUnavailable, free_port, make_broker

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def run(*cmd: str | Path, cwd: Path | None = None, timeout: float = 300,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                         timeout=timeout, env=env)
    assert out.returncode == 0, f"{cmd}: {out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    src = out / "src"  # a copy: the build writes egg-info and build/ next to the sources
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".mypy_cache",
        ".ruff_cache", ".pytest_cache", ".hypothesis", ".mypy_tree", "firmware/*/build",
        "edgecascade-demo"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    built = run(sys.executable, "-m", "build", "--outdir", out / "dist", src, env=env)
    warnings = [line for line in (built.stdout + built.stderr).splitlines()
                if re.search(r"\bwarning\b", line, re.IGNORECASE)]
    assert not warnings, "\n".join(warnings)
    return out / "dist"




@pytest.fixture
def mosquitto_from(tmp_path: Path) -> Iterator[Callable[[str], BrokerSettings]]:
    """``start(config_text)`` with ``{port}`` and ``{dir}`` filled in -> its settings.

    The broker is the tests' usual kind (a container where Docker runs, see
    tests/conftest.py), running exactly this config."""
    made: list[Broker] = []

    def start(text: str, username: str | None = None,
              password: str | None = None) -> BrokerSettings:
        workdir = tmp_path / f"mosquitto{len(made)}"
        workdir.mkdir()
        port = free_port()
        try:
            broker = make_broker(workdir, port=port,
                                 config=text.format(port=port, dir=workdir))
        except BrokerUnavailable as exc:
            pytest.fail(str(exc))
        made.append(broker)
        broker.start()
        return BrokerSettings(f"mqtt://127.0.0.1:{port}", username=username,
                              password=password)

    yield start
    for broker in made:
        broker.stop()
