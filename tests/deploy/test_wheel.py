"""The package as a user gets it: build sdist + wheel without warnings, install the
wheel into a fresh venv (no system site-packages; pip's cache makes this quick) and
run the installed command: --version, gateway --check, and a short demo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from edgecascade import __version__

from .conftest import run

pytestmark = pytest.mark.slow


def test_sdist_and_wheel_hold_the_data(dist: Path) -> None:
    import tarfile
    import zipfile

    wheel = dist / f"edgecascade-{__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("edgecascade/models/mnist-edge.tflite", "edgecascade/models/registry.json",
                   "edgecascade/models/thresholds.json",
                   "edgecascade/models/data/mnist_test.npz",
                   "edgecascade/protocol/vectors/cloud_request.bin"):
        assert needed in names, needed
    with tarfile.open(dist / f"edgecascade-{__version__}.tar.gz") as sdist:
        assert any(n.endswith("models/data/mnist_test.npz") for n in sdist.getnames())


def test_installed_wheel_runs(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    wheel = dist / f"edgecascade-{__version__}-py3-none-any.whl"
    run(venv / "bin" / "pip", "install", "-q", f"{wheel}[demo]", timeout=600)
    ec = venv / "bin" / "edgecascade"
    assert run(ec, "--version").stdout.strip() == f"edgecascade {__version__}"

    models = run(venv / "bin" / "python", "-c", "import edgecascade.models as m, os; "
                 "print(os.path.dirname(m.__file__))", cwd=tmp_path).stdout.strip()
    assert models.startswith(str(venv))  # the installed copy, not this checkout
    config = tmp_path / "gateway.toml"
    config.write_text(f'version = 1\ngateway_id = "gw1"\n'
                      f'thresholds_file = "{models}/thresholds.json"\n'
                      f'[edge]\nmodel = "{models}/mnist-edge.tflite"\n')
    check = run(ec, "gateway", "--config", config, "--check", cwd=tmp_path)
    assert check.stdout.strip() == f"{config}: ok"

    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin"}
    demo = run(ec, "demo", "--devices", "2", "--duration", "3", "--rate", "5", "--no-live",
               cwd=tmp_path, env=env)
    assert "frames answered    30  (unanswered 0, duplicate finals 0" in demo.stdout, demo.stdout
    assert (tmp_path / "edgecascade-demo" / "report.json").is_file()
