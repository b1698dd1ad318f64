"""The package as a user gets it: build sdist + wheel without warnings, install the
wheel into a fresh venv (no system site-packages; pip's cache makes this quick) and
run the installed command: --version, gateway --check, and a short demo; the same
install used with the clone's root as the working directory (``python -c``, ``python
-m edgecascade``, ``models import`` with its tflite-micro arena probe child), and
``deploy/install.sh`` run from the clone against a scratch prefix."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from edgecascade import __version__

from .conftest import ROOT, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the wheel (not editable) and the demo extra, at ``<prefix>/venv``
    where ``deploy/install.sh`` expects it; returns the prefix."""
    prefix = tmp_path_factory.mktemp("prefix")
    venv = prefix / "venv"
    run(sys.executable, "-m", "venv", venv)
    wheel = dist / f"edgecascade-{__version__}-py3-none-any.whl"
    run(venv / "bin" / "pip", "install", "-q", f"{wheel}[demo]", timeout=600)
    return prefix


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


def test_installed_wheel_runs(installed: Path, tmp_path: Path) -> None:
    venv = installed / "venv"
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
    assert check.stdout.strip().startswith(f"{config}: ok")

    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin"}
    demo = run(ec, "demo", "--devices", "2", "--duration", "3", "--rate", "5", "--no-live",
               cwd=tmp_path, env=env)
    assert "frames answered    30  (unanswered 0, duplicate finals 0" in demo.stdout, demo.stdout
    assert (tmp_path / "edgecascade-demo" / "report.json").is_file()


def test_installed_wheel_works_from_the_clone_root(installed: Path, tmp_path: Path) -> None:
    """The clone's root holds protocol/, gateway/, tools/, models/ and common/ but no
    folder named ``edgecascade``: Python started there (cwd first on sys.path) imports
    the installed package, whole."""
    from tests.workloads.synthetic import build

    py = installed / "venv" / "bin" / "python"
    where = run(py, "-c", "import edgecascade.models as m, edgecascade.tools.models.importer; "
                "print(m.__file__)", cwd=ROOT).stdout.strip()
    assert where.startswith(str(installed)), where
    assert run(py, "-m", "edgecascade", "--version", cwd=ROOT).stdout.strip() == \
        f"edgecascade {__version__}"
    # The arena probe's child process (python -m edgecascade.tools.models.arena_probe)
    # runs from the same cwd: the import measures the arena instead of blaming the model.
    src = build(tmp_path / "in")
    out = tmp_path / "workload"
    done = run(py, "-m", "edgecascade", "models", "import", "--name", "synth",
               "--mcu", src["mcu"], "--edge", src["edge"], "--cloud", src["cloud"],
               "--data", src["calib"], "--out", out, cwd=ROOT)
    assert "mcu arena measured through tflite-micro" in done.stdout, done.stdout
    assert (out / "registry.json").is_file()


def test_install_sh_completes_from_the_clone_root(installed: Path, dist: Path,
                                                  tmp_path: Path) -> None:
    """docs/deploy.md's one command (no wheel given: it builds one from the clone), run
    in a copy of the clone (the build writes build/ and egg-info next to the sources)
    and pointed at a scratch prefix (no service user, no units): it imports the
    installed package from the clone's root and writes the configuration folder."""
    clone = dist.parent / "src"  # the dist fixture's copy of this checkout
    etc, var = tmp_path / "etc", tmp_path / "var"
    env = {**os.environ, "EC_PREFIX": str(installed), "EC_ETC": str(etc),
           "EC_VAR": str(var), "EC_USER": "", "PYTHON": sys.executable}
    done = run("bash", "deploy/install.sh", cwd=clone, env=env, timeout=600)
    assert done.stdout.strip().endswith(f"edgecascade {__version__}"), done.stdout
    assert (etc / "gateway.toml").is_file() and (etc / "worker-1.toml").is_file()
    assert (var / "gateway").is_dir()
    models = (installed / "models").resolve()
    assert models.is_relative_to(installed / "venv") and (models / "registry.json").is_file()
