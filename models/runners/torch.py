"""PyTorch: the same ``.onnx`` file run as a torch module, on CUDA where there is one.

For a GPU box where PyTorch is the only GPU runtime installed (NVIDIA publishes it for
JetPack; it is on nearly every cloud GPU image). The graph is turned into a module at
load (:mod:`.torch_graph`), moved to the device, optionally cast to fp16, and run under
``torch.inference_mode``. ``providers`` says where: ``["cuda"]`` (refused when torch
sees no CUDA device, unless ``allow_cpu_fallback``), ``["cpu"]``, or empty (CUDA when
there is one). This backend needs the ``torch`` extra (``torch`` and ``onnx``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .base import FloatRunner, read_onnx_bytes
from .devices import cpu_name
from .providers import ProviderRefused
from .settings import BackendInfo, RuntimeSettings


def torch_module(where: str | Path) -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ModelError(where, "runtime \"torch\" needs PyTorch and onnx (pip install "
                                f"'edgecascade[torch]'): {exc}") from None
    return torch


def torch_device(torch: Any, s: RuntimeSettings) -> tuple[str, bool, str | None]:
    """(device, fallback?, refusal or None) for the providers asked."""
    has_cuda = bool(torch.cuda.is_available())
    if s.providers and s.providers[0] == "cpu":
        return "cpu", False, None
    if has_cuda:
        return f"cuda:{s.device_id}", False, None
    if not s.wants_gpu:
        return "cpu", False, None
    why = (f"provider 'cuda' is not active: torch {torch.__version__} sees no CUDA device "
           f"({'a CPU-only build' if torch.version.cuda is None else 'no GPU or driver'})")
    if s.allow_cpu_fallback:
        return "cpu", True, None
    return "cpu", False, why + "; set allow_cpu_fallback = true to run on the CPU"


class TorchRunner(FloatRunner):
    def __init__(self, path: str | Path, settings: RuntimeSettings | None = None,
                 entry: Any = None) -> None:
        from ..runtime import lookup_entry
        from .torch_graph import onnx_to_torch

        s = settings or RuntimeSettings(runtime="torch")
        path = Path(path)
        data = read_onnx_bytes(path)
        torch = torch_module(path)
        try:
            import onnx
        except ImportError as exc:
            raise ModelError(path, f"runtime \"torch\" reads the model with onnx: {exc}") \
                from None
        device, fallback, refusal = torch_device(torch, s)
        if refusal is not None:
            raise ProviderRefused(path, f"torch: {refusal}")
        self._torch = torch
        self._device = torch.device(device)
        try:
            proto = onnx.load_model_from_string(data)
            module, converter = onnx_to_torch(proto)
        except ModelError as exc:
            raise ModelError(path, exc.problem) from None
        except Exception as exc:  # onnx's DecodeError and friends
            raise ModelError(path, f"cannot read the ONNX model: {exc}") from None
        self._half = bool(s.fp16 and device != "cpu")
        module = module.to(self._device)
        self._module = module.half() if self._half else module
        if device == "cpu":
            torch.set_num_threads(s.num_threads)
        self.runtime = f"torch {torch.__version__} ({converter})"
        graph = proto.graph
        inits = {i.name for i in graph.initializer}
        real_in = next(i for i in graph.input if i.name not in inits)
        shape = tuple(d.dim_value for d in real_in.type.tensor_type.shape.dim[1:])
        classes = graph.output[0].type.tensor_type.shape.dim[-1].dim_value
        if classes < 1:
            raise ModelError(path, "output has no static class count")
        self._describe(path, shape, classes, entry if entry is not None else lookup_entry(path))
        name = (torch.cuda.get_device_name(self._device) if device != "cpu" else cpu_name())
        self.info = BackendInfo("torch", "cuda" if device != "cpu" else "cpu", name,
                                "fp16" if self._half else "fp32", fallback)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(batch)
            if self._device.type == "cuda":
                x = x.pin_memory().to(self._device, non_blocking=True)
            if self._half:
                x = x.half()
            y = self._module(x)
            return np.asarray(y.float().cpu().numpy())
