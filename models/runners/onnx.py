"""ONNX Runtime: an ``.onnx`` model on its execution providers (TensorRT, CUDA, CPU).

The providers asked for are planned against the build's available ones
(:mod:`.providers`), the session is created, and the providers it really activated
decide: a GPU asked for and not active refuses the model with one line naming the
provider and why (ONNX Runtime itself would run on the CPU and say nothing), unless
``allow_cpu_fallback``. TensorRT engines are built once per model, GPU and TensorRT
version and cached on disk (``<cache_dir>/tensorrt/<sha256[:16]>-<gpu>-trt<version>``);
building one takes seconds to minutes, loading a cached one well under a second.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..registry import sha256_file
from .base import FloatRunner, read_onnx_bytes
from .devices import cpu_name, gpu_name, slug, tensorrt_version
from .providers import ORT_NAMES, ProviderRefused, active_provider, plan_providers
from .settings import BackendInfo, RuntimeSettings

#: The largest batch a TensorRT engine is built for (larger batches run in chunks);
#: its optimization profile is 1..MAX_BATCH with the kernels tuned at OPT_BATCH.
TRT_MAX_BATCH, TRT_OPT_BATCH = 256, 64


def ort_module(where: str | Path) -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError(where, "runtime \"onnxruntime\" needs the onnxruntime package "
                                "(pip install 'edgecascade[onnx]', or 'edgecascade[gpu]' "
                                f"for CUDA and TensorRT): {exc}") from None
    return onnxruntime


def engine_cache_dir(cache_dir: str, model_sha256: str, gpu: str, trt: str,
                     fp16: bool) -> Path:
    """Where TensorRT engines of this model on this GPU and TensorRT version live."""
    key = f"{model_sha256[:16]}-{slug(gpu or 'gpu')}-trt{trt or 'unknown'}"
    return Path(cache_dir) / "tensorrt" / (key + ("-fp16" if fp16 else ""))


def trt_profiles(data: bytes) -> dict[str, str]:
    """TensorRT's optimization profile for the free batch dimension (batch 1 to
    :data:`TRT_MAX_BATCH`, tuned at :data:`TRT_OPT_BATCH`), read with the ``onnx``
    package; without it TensorRT builds an engine per new batch range it meets."""
    try:
        import onnx
    except ImportError:
        return {}
    graph = onnx.load_model_from_string(data).graph
    inits = {i.name for i in graph.initializer}
    real = [i for i in graph.input if i.name not in inits]
    if len(real) != 1:
        return {}
    dims = [d.dim_value for d in real[0].type.tensor_type.shape.dim[1:]]
    if not dims or any(d < 1 for d in dims):
        return {}
    rest = "x".join(str(d) for d in dims)
    return {f"trt_profile_{k}_shapes": f"{real[0].name}:{n}x{rest}"
            for k, n in (("min", 1), ("opt", TRT_OPT_BATCH), ("max", TRT_MAX_BATCH))}


class OnnxRunner(FloatRunner):
    """One ONNX Runtime session for one model; any batch size."""

    def __init__(self, path: str | Path, settings: RuntimeSettings | None = None,
                 entry: Any = None) -> None:
        from ..runtime import lookup_entry

        s = settings or RuntimeSettings(runtime="onnxruntime")
        path = Path(path)
        data = read_onnx_bytes(path)
        ort = ort_module(path)
        self.runtime = f"onnxruntime {ort.__version__}"
        plan = plan_providers(s.providers, list(ort.get_available_providers()))
        self.engine_dir: Path | None = None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = s.num_threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: the refusal below says what matters
        # No busy-waiting between runs: spinning intra-op threads take the cores the
        # gateway's bookkeeping (paho, SQLite) and the batcher need; measured on 2 shared
        # cores, 2 threads: 8,900 frames/s without, 4,100 with (docs/performance.md).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list[Any] = []
        for p in plan.use:
            providers.append((ORT_NAMES[p], self._provider_options(p, s, path, data)))
        try:
            self._session = ort.InferenceSession(data, sess_options=opts,
                                                 providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(path, f"onnxruntime cannot load the model: "
                                   f"{str(exc).splitlines()[0][:300]}") from None
        provider, fallback, refusal = active_provider(
            s.providers, plan, list(self._session.get_providers()), s.allow_cpu_fallback)
        if refusal is not None:
            raise ProviderRefused(path, f"onnxruntime: {refusal}")
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(path, f"expected 1 input and 1 output, got {len(inputs)} and "
                                   f"{len(outputs)}")
        if inputs[0].type != "tensor(float)":
            raise ModelError(path, f"input must be float32 real values, got {inputs[0].type}")
        self._in, self._out = inputs[0].name, outputs[0].name
        shape = tuple(d if isinstance(d, int) else -1 for d in inputs[0].shape[1:])
        classes = outputs[0].shape[-1]
        if not isinstance(classes, int):
            raise ModelError(path, f"output shape {outputs[0].shape} has no static class count")
        self._describe(path, shape, classes, entry if entry is not None else lookup_entry(path))
        device = (gpu_name(s.device_id) or f"cuda:{s.device_id}") if provider != "cpu" \
            else cpu_name()
        precision = "fp16" if s.fp16 and provider == "tensorrt" else "fp32"
        self.info = BackendInfo("onnxruntime", provider, device, precision, fallback)
        self._chunk = TRT_MAX_BATCH if provider == "tensorrt" else math.inf

    def _provider_options(self, provider: str, s: RuntimeSettings, path: Path,
                          data: bytes) -> dict[str, Any]:
        if provider == "cuda":
            return {"device_id": s.device_id}
        if provider != "tensorrt":
            return {}
        opts: dict[str, Any] = {"device_id": s.device_id, "trt_fp16_enable": s.fp16}
        opts.update(trt_profiles(data))
        if s.cache_dir:
            self.engine_dir = engine_cache_dir(s.cache_dir, sha256_file(path),
                                               gpu_name(s.device_id), tensorrt_version(),
                                               s.fp16)
            try:
                self.engine_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ModelError(path, f"cannot create the TensorRT engine cache "
                                       f"{self.engine_dir}: {exc.strerror or exc}") from None
            opts.update(trt_engine_cache_enable=True,
                        trt_engine_cache_path=str(self.engine_dir),
                        trt_timing_cache_enable=True,
                        trt_timing_cache_path=str(self.engine_dir))
        return opts

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) > self._chunk:
            step = int(self._chunk)
            return np.concatenate([self._run(batch[i:i + step])
                                   for i in range(0, len(batch), step)])
        return np.asarray(self._session.run([self._out], {self._in: batch})[0])
