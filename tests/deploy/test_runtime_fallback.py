"""tflite-runtime as the interpreter where ai-edge-litert is not installed (older
JetPack, Coral images): a real venv holding tflite-runtime 2.14 (its last release,
built against numpy 1, so numpy < 2 there) and no ai-edge-litert, running the shipped
edge model through ``ModelRunner``; its answers match LiteRT's here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecascade import __version__
from edgecascade.models.dataset import load_split
from edgecascade.models.registry import load_registry
from edgecascade.models.runtime import ModelRunner, interpreter_api

from .conftest import run

pytestmark = pytest.mark.slow

PROBE = """
import json, sys
import numpy as np
try:
    import ai_edge_litert  # noqa: F401
    sys.exit("ai-edge-litert is installed: not the environment under test")
except ImportError:
    pass
from edgecascade.models.runtime import ModelRunner
runner = ModelRunner(sys.argv[1], delegate="none")
pixels = np.load(sys.argv[2])
print(json.dumps({"runtime": runner.runtime, "probs": runner.predict(pixels).tolist()}))
"""


def test_litert_is_preferred_when_installed() -> None:
    package, module = interpreter_api()
    assert package == "ai-edge-litert" and module.__name__ == "ai_edge_litert.interpreter"


def test_tflite_runtime_fallback(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    pip = venv / "bin" / "pip"
    wheel = dist / f"edgecascade-{__version__}-py3-none-any.whl"
    # The package without its dependencies, then what a tflite-runtime image has.
    run(pip, "install", "-q", "--no-deps", wheel, timeout=600)
    # (pip notes that ai-edge-litert, a declared dependency, is missing: that is the point.)
    run(pip, "install", "-q", "tflite-runtime", "numpy<2", "msgpack", "paho-mqtt",
        "prometheus-client", "pyserial", timeout=600)

    edge = load_registry().for_tier("edge").path
    images = load_split("test").images[:16]
    np.save(tmp_path / "pixels.npy", images)
    out = run(venv / "bin" / "python", "-c", PROBE, edge, tmp_path / "pixels.npy",
              cwd=tmp_path)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["runtime"] == "tflite-runtime"
    expected = ModelRunner(edge, delegate="none").predict(images)
    got = np.asarray(doc["probs"], dtype=np.float32)
    assert got.shape == expected.shape
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert np.abs(got - expected).max() <= 1 / 128  # int8 output: within an LSB or so
