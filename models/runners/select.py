"""Which runner runs a model file: the ``runtime`` setting against the file's format.

* ``litert``: a ``.tflite`` file through ai-edge-litert (an ``.onnx`` file is refused);
* ``onnxruntime`` / ``torch``: an ``.onnx`` file, or for a ``.tflite`` file its ONNX
  twin from the registry (same id and version, ``edgecascade models onnx`` made it), so
  one ``[edge] model`` path serves every runtime and the answers name the same model;
* ``auto``: the best available: a GPU through ONNX Runtime (TensorRT, CUDA), else
  through torch (both tried only where the machine shows an NVIDIA GPU device), else
  LiteRT on the CPU for a ``.tflite`` (ONNX Runtime's CPU provider for an ``.onnx``).
  ``auto`` never refuses for want of a GPU; ``runner.info`` says what it chose.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import replace
from pathlib import Path

from ..errors import ModelError
from ..registry import ModelEntry
from .base import Runner
from .devices import nvidia_present
from .settings import GPU_PROVIDERS, RuntimeSettings

log = logging.getLogger("edgecascade.models")


def file_format(path: Path) -> str:
    """``onnx`` for a ``.onnx`` file, else ``tflite`` (the loaders check the content)."""
    return "onnx" if path.suffix.lower() == ".onnx" else "tflite"


def onnx_twin(path: Path) -> ModelEntry:
    """The registered ONNX twin of a ``.tflite`` file, verified; or a :class:`ModelError`
    saying how to get one."""
    from ..runtime import lookup_twin

    twin = lookup_twin(path, "onnx")
    if twin is None:
        raise ModelError(path, "no ONNX twin of this model is registered: point the "
                               "config at an .onnx file, or make one with `edgecascade "
                               "models onnx`")
    twin.verify()
    return twin


def _onnx_source(path: Path) -> tuple[Path, ModelEntry | None]:
    if file_format(path) == "onnx":
        return path, None
    twin = onnx_twin(path)
    return twin.path, twin


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _gpu_ort() -> bool:
    if not _has("onnxruntime"):
        return False
    import onnxruntime

    return bool({"CUDAExecutionProvider", "TensorrtExecutionProvider"}
                & set(onnxruntime.get_available_providers()))


def _auto(path: Path, s: RuntimeSettings) -> Runner:
    from ..runtime import ModelRunner

    fmt = file_format(path)
    gpu = tuple(p for p in s.providers if p in GPU_PROVIDERS) or ("tensorrt", "cuda")
    tried: list[str] = []
    if nvidia_present():  # else no GPU runtime is tried (nor imported)
        for runtime, ok in (("onnxruntime", _gpu_ort()), ("torch", _has("torch"))):
            if not ok:
                continue
            try:
                return open_runner(path, replace(s, runtime=runtime, providers=gpu,
                                                 allow_cpu_fallback=False))
            except ModelError as exc:
                tried.append(f"{runtime}: {exc.problem}")
    if tried:
        log.info("runtime auto: no GPU runtime took %s (%s)", path, "; ".join(tried))
    if fmt == "tflite":
        return ModelRunner(path, num_threads=s.num_threads, delegate=s.delegate)
    cpu = replace(s, providers=("cpu",), allow_cpu_fallback=False)
    if _has("onnxruntime"):
        return open_runner(path, replace(cpu, runtime="onnxruntime"))
    return open_runner(path, replace(cpu, runtime="torch"))


def open_runner(path: str | Path, settings: RuntimeSettings | None = None) -> Runner:
    """The runner for ``path`` under ``settings`` (default: ``auto``); raises
    :class:`ModelError` naming the file and what is missing."""
    from ..runtime import ModelRunner

    s = settings or RuntimeSettings(runtime="auto")
    p = Path(path)
    if s.runtime == "auto":
        return _auto(p, s)
    if s.runtime == "litert":
        if file_format(p) == "onnx":
            raise ModelError(p, "LiteRT runs .tflite files: set runtime = \"onnxruntime\" "
                                "(or \"torch\") for an .onnx model")
        return ModelRunner(p, num_threads=s.num_threads, delegate=s.delegate)
    source, entry = _onnx_source(p)
    if s.runtime == "onnxruntime":
        from .onnx import OnnxRunner

        return OnnxRunner(source, s, entry)
    if s.runtime == "torch":
        from .torch import TorchRunner

        return TorchRunner(source, s, entry)
    raise ModelError(p, f"unknown runtime {s.runtime!r}")
