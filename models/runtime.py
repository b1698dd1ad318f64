"""Run a ``.tflite`` model on raw pixels with ai-edge-litert (gateway and cloud tiers).

The interpreter comes from ``ai_edge_litert`` (LiteRT, what pyproject installs) or,
where only it is installed (older JetPack and Coral images), from ``tflite_runtime``:
the same ``Interpreter`` API under another name. :func:`interpreter_api` chooses.

    runner = ModelRunner("models/mnist-edge.tflite")
    probs = runner.predict(images_uint8)      # (N, 28, 28) -> float32 (N, 10)

Errors are :class:`ModelError` naming the file and the problem.

:func:`open_runner` is the way in for every tier: it picks LiteRT (this module), ONNX
Runtime or PyTorch from :class:`~edgecascade.models.runners.settings.RuntimeSettings`
(``edgecascade.models.runners``); every runner has the same methods and an ``info``
(:class:`~edgecascade.models.runners.settings.BackendInfo`) saying what really runs it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ModelError
from .quant import Quantization, as_pixel_batch, pixels_to_input
from .registry import DEFAULT_REGISTRY, ModelEntry, TensorSpec, load_registry, sha256_file
from .runners.devices import cpu_name
from .runners.settings import BackendInfo, RuntimeSettings
from .tensors import real_to_input

if TYPE_CHECKING:
    from edgecascade.protocol import Frame

    from .runners.base import Runner

__all__ = ["BackendInfo", "ModelError", "ModelRunner", "RuntimeSettings", "frame_to_pixels",
           "interpreter_api", "interpreter_spec", "lookup_entry", "lookup_twin", "open_model",
           "open_runner"]

#: Interpreter packages in order of preference: module holding ``Interpreter``.
RUNTIMES: tuple[tuple[str, str], ...] = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
)


def interpreter_api(where: str | Path = "TFLite interpreter") -> tuple[str, Any]:
    """(package name, interpreter module) of the first runtime that imports.

    Raises :class:`ModelError` naming each runtime and why it did not import (e.g.
    tflite-runtime 2.14, its last release, is built against numpy 1 and fails on 2).
    """
    import importlib

    why: list[str] = []
    for package, module in RUNTIMES:
        try:
            return package, importlib.import_module(module)
        except ImportError as exc:  # absent, or built for another numpy
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            why.append(f"{package}: {first}")
    raise ModelError(where, "no TFLite interpreter: install ai-edge-litert (or tflite-runtime "
                            "with numpy < 2); " + "; ".join(why))


def lookup_entry(path: Path, registry_path: Path | None = None) -> ModelEntry | None:
    """The registry entry whose sha256 matches the file, if any (registry not verified)."""
    return lookup_twin(path, None, registry_path)


def lookup_twin(path: Path, format: str | None,
                registry_path: Path | None = None) -> ModelEntry | None:
    """The entry of the model in ``path`` in another file ``format`` (same id and
    version; None: the file's own entry), from the registry that lists the file."""
    candidates = [registry_path] if registry_path else [path.parent / "registry.json",
                                                        DEFAULT_REGISTRY]
    digest = sha256_file(path)
    for reg_path in dict.fromkeys(candidates):
        if reg_path is None or not reg_path.is_file():
            continue
        try:
            reg = load_registry(reg_path, verify=False)
        except ModelError:
            continue
        entry = reg.find_by_sha256(digest)
        if entry is not None:
            return entry if format is None else reg.twin(entry, format)
    return None


def open_model(path: str | Path, num_threads: int = 1) -> Runner:
    """The file's own runtime on the CPU, for tools: LiteRT for a ``.tflite``, ONNX
    Runtime's CPU provider for an ``.onnx`` (never a GPU, never a twin)."""
    from .runners.select import file_format

    runtime = "onnxruntime" if file_format(Path(path)) == "onnx" else "litert"
    return open_runner(path, RuntimeSettings(runtime=runtime, providers=("cpu",),
                                             num_threads=num_threads))


def open_runner(path: str | Path, settings: RuntimeSettings | None = None) -> Runner:
    """The runner for a model file under ``settings`` (default ``runtime = "auto"``):
    see :mod:`edgecascade.models.runners.select`."""
    from .runners.select import open_runner as select

    return select(path, settings)


def _read_model(path: Path) -> bytes:
    if not path.is_file():
        raise ModelError(path, "model file is missing")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(path, "not a TFLite flatbuffer (missing 'TFL3' identifier): "
                               "file is corrupt or of another format")
    return data


def _quant(details: dict[str, Any]) -> Quantization:
    scale, zp = details["quantization"]
    return Quantization(float(scale), int(zp))


def interpreter_spec(path: Path, shape: tuple[int, ...], dtype: np.dtype,
                     quant: Quantization, layout: str = "") -> TensorSpec:
    """The input spec an interpreter reports (the layout from the registry, if known)."""
    try:
        return TensorSpec(shape, np.dtype(dtype).name, quant.scale, quant.zero_point, layout)
    except ValueError as exc:
        raise ModelError(path, f"unsupported input: {exc}") from None


#: ``delegate`` values that select built-in kernels rather than loading a delegate library.
BUILTIN_DELEGATES = ("xnnpack", "none", "reference")


class ModelRunner:
    """One LiteRT interpreter for one model; batch size follows the input.

    ``runtime`` names the package that provides it (``ai-edge-litert`` or
    ``tflite-runtime``).

    ``delegate``: ``None`` or ``"xnnpack"`` (default CPU kernels, XNNPACK),
    ``"none"`` (built-in optimized kernels without the default delegate: int8
    results within 1 LSB of tflite-micro), ``"reference"`` (reference kernels), or
    the path of an external delegate library (e.g. ``libedgetpu.so.1``).
    """

    def __init__(self, path: str | Path, *, num_threads: int = 1,
                 delegate: str | None = None) -> None:
        self.path = Path(path)
        content = _read_model(self.path)
        self.runtime, api = interpreter_api(self.path)
        Interpreter, OpResolverType, load_delegate = (  # noqa: N806 - the runtime's names
            api.Interpreter, api.OpResolverType, api.load_delegate)
        resolver = {
            None: OpResolverType.AUTO, "xnnpack": OpResolverType.AUTO,
            "none": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            "reference": OpResolverType.BUILTIN_REF,
        }.get(delegate, OpResolverType.AUTO)
        delegates = []
        if delegate is not None and delegate not in BUILTIN_DELEGATES:
            try:
                delegates.append(load_delegate(delegate))
            except (ValueError, OSError, RuntimeError) as exc:
                raise ModelError(self.path, f"cannot load delegate {delegate!r}: {exc}") from exc
        try:
            self._interp = Interpreter(model_content=content, num_threads=num_threads,
                                       experimental_delegates=delegates or None,
                                       experimental_op_resolver_type=resolver)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(self.path, f"cannot load model: {exc}") from exc
        inputs = self._interp.get_input_details()
        outputs = self._interp.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(self.path, f"expected 1 input and 1 output, got "
                                        f"{len(inputs)} and {len(outputs)}")
        self._in, self._out = inputs[0], outputs[0]
        shape = tuple(int(x) for x in self._in["shape"])
        if len(shape) < 2:
            raise ModelError(self.path, f"expected a batched input (N, ...), got {shape}")
        self.input_shape: tuple[int, ...] = shape[1:]
        self.input_dtype = np.dtype(self._in["dtype"])
        self.input_quantization = _quant(self._in)
        self.output_dtype = np.dtype(self._out["dtype"])
        self.output_quantization = _quant(self._out)
        self.num_classes = int(self._out["shape"][-1])
        self._dynamic_batch = int(self._in["shape_signature"][0]) == -1
        self._batch = shape[0]
        if self.input_dtype != np.float32 and not self.input_quantization.quantized:
            raise ModelError(self.path, f"{self.input_dtype} input has no quantization")
        entry = lookup_entry(self.path)
        self.entry: ModelEntry | None = entry
        self.model_id: str = entry.id if entry else self.path.stem
        self.model_version: int = entry.version if entry else 0
        self.input_spec: TensorSpec = interpreter_spec(
            self.path, self.input_shape, self.input_dtype, self.input_quantization,
            entry.input.layout if entry else "")
        provider = ("xnnpack" if delegate in (None, "xnnpack") else delegate
                    if delegate in BUILTIN_DELEGATES else f"delegate:{Path(delegate).name}")
        self.info = BackendInfo("litert", provider, cpu_name(),
                                "int8" if self.input_quantization.quantized else "fp32")

    def __repr__(self) -> str:
        return (f"ModelRunner({str(self.path)!r}, id={self.model_id!r}, "
                f"version={self.model_version}, input={self.input_shape} {self.input_dtype})")

    def _ensure_batch(self, n: int) -> None:
        if n == self._batch:
            return
        idx = self._in["index"]
        try:
            self._interp.resize_tensor_input(idx, [n, *self.input_shape], strict=False)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(self.path, f"cannot resize batch to {n}: {exc}") from exc
        self._batch = n

    def predict_input(self, tensor: np.ndarray) -> np.ndarray:
        """Run an already quantized input tensor (N, *input_shape); return the raw output."""
        if tensor.dtype != self.input_dtype or tuple(tensor.shape[1:]) != self.input_shape:
            raise ModelError(self.path, f"input tensor must be {self.input_dtype} "
                                        f"(N, {', '.join(map(str, self.input_shape))}), got "
                                        f"{tensor.dtype} {tensor.shape}")
        n = tensor.shape[0]
        if not self._dynamic_batch and n != self._batch:
            return np.concatenate([self.predict_input(tensor[i:i + self._batch])
                                   for i in range(0, n, self._batch)])
        self._ensure_batch(n)
        self._interp.set_tensor(self._in["index"], np.ascontiguousarray(tensor))
        self._interp.invoke()
        return np.array(self._interp.get_tensor(self._out["index"]))

    def predict_real(self, real: np.ndarray) -> np.ndarray:
        """Real-valued inputs (N, *input_shape) -> float32 probabilities (N, classes).

        A uint8 batch into an ``image`` input is raw pixels (the camera convention of
        :mod:`edgecascade.models.tensors`) and goes through :meth:`predict`.
        """
        if np.asarray(real).dtype == np.uint8 and self.input_spec.layout == "image":
            return self.predict(real)
        out = self.predict_input(real_to_input(real, self.input_spec))
        if self.output_dtype == np.float32:
            return out.astype(np.float32)
        return self.output_quantization.dequantize(out)

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Raw uint8 pixels (N, H, W) or (N, H, W, 1) -> float32 probabilities (N, classes)."""
        batch = as_pixel_batch(pixels, (self.input_shape[0], self.input_shape[1]),
                               str(self.path))
        tensor = pixels_to_input(batch, self.input_dtype, self.input_quantization)
        out = self.predict_input(tensor)
        if self.output_dtype == np.float32:
            return out.astype(np.float32)
        return self.output_quantization.dequantize(out)


def frame_to_pixels(frame: Frame, hw: tuple[int, int] = (28, 28)) -> np.ndarray:
    """A wire :class:`~edgecascade.protocol.Frame` -> uint8 pixels (H, W).

    Accepted forms: ``uint8`` with ``scale == 1`` and ``zero_point == 0`` (raw pixels),
    or any frame whose dequantized values ``scale * (q - zero_point)`` are normalized
    intensities in [0, 1] (the model-input convention, e.g. ``int8``, scale 1/255,
    zero point -128). The shape must squeeze to ``hw``.
    """
    where = f"frame {frame.dtype} {tuple(frame.shape)}"
    dtypes = {"uint8": np.uint8, "int8": np.int8}
    if frame.dtype not in dtypes:
        raise ModelError(where, f"unsupported frame dtype {frame.dtype!r}")
    if math.prod(frame.shape) != len(frame.data):
        raise ModelError(where, f"{len(frame.data)} bytes do not match the shape")
    squeezed = tuple(d for d in frame.shape if d != 1)
    if squeezed != hw:
        raise ModelError(where, f"shape does not squeeze to {hw}")
    q = np.frombuffer(frame.data, dtype=dtypes[frame.dtype]).reshape(hw)
    if frame.dtype == "uint8" and frame.scale == 1.0 and frame.zero_point == 0:
        return q.copy()
    if not (math.isfinite(frame.scale) and frame.scale > 0):
        raise ModelError(where, f"invalid scale {frame.scale!r}")
    real = (q.astype(np.float64) - frame.zero_point) * frame.scale * 255.0
    if real.min() < -0.5 or real.max() > 255.5:
        raise ModelError(where, f"quantization (scale={frame.scale}, zero_point="
                                f"{frame.zero_point}) does not map to 0..1 intensities")
    return np.clip(np.rint(real), 0, 255).astype(np.uint8)
