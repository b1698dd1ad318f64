"""What the operator asks of a model runtime, and what actually runs (pure, no imports
of any runtime).

    [edge]                              # or the worker's [model]
    runtime = "onnxruntime"             # "litert" (default) | "onnxruntime" | "torch" | "auto"
    providers = ["tensorrt", "cuda", "cpu"]   # by preference; ONNX Runtime and torch
    allow_cpu_fallback = false          # a GPU asked for and not active: refuse to start
    fp16 = false                        # TensorRT / torch on the GPU: half precision

:class:`RuntimeSettings` is that request; :class:`BackendInfo` is the answer every
runner carries (``runner.info``): the backend, the provider and the device that really
run the model. The start-up log line, the ``/metrics`` info metric, ``edgecascade
status``, the dashboard and ``--check`` all print the same ``BackendInfo``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Values of ``runtime``.
RUNTIMES = ("litert", "onnxruntime", "torch", "auto")
#: Values of ``providers``: the GPU ones first, as one would list them.
PROVIDERS = ("tensorrt", "cuda", "cpu")
GPU_PROVIDERS = frozenset({"tensorrt", "cuda"})


@dataclass(frozen=True)
class RuntimeSettings:
    """How to run a model file. ``providers`` empty: the runtime's best available, no
    refusal; named: those, in that order, and a GPU among them that is not active
    refuses the model unless ``allow_cpu_fallback``."""

    runtime: str = "litert"
    providers: tuple[str, ...] = ()
    allow_cpu_fallback: bool = False
    fp16: bool = False
    num_threads: int = 1
    delegate: str | None = None  # LiteRT only: "xnnpack", "none", "reference" or a library
    cache_dir: str = ""  # TensorRT engines are cached under it (the state dir); "": none
    device_id: int = 0  # which GPU

    @property
    def wants_gpu(self) -> bool:
        return bool(GPU_PROVIDERS & set(self.providers))


def settings_problems(runtime: str, providers: tuple[str, ...]) -> list[tuple[str, str]]:
    """(key, why) for every value a config may not hold: the one check both configs use."""
    out: list[tuple[str, str]] = []
    if runtime not in RUNTIMES:
        out.append(("runtime", f"must be one of {', '.join(RUNTIMES)}, got {runtime!r}"))
    for i, p in enumerate(providers):
        if p not in PROVIDERS:
            out.append((f"providers[{i}]", f"must be one of {', '.join(PROVIDERS)}, got {p!r}"))
    if len(set(providers)) != len(providers):
        out.append(("providers", "lists a provider twice"))
    if runtime == "litert" and GPU_PROVIDERS & set(providers):
        out.append(("providers", "LiteRT has no CUDA path on Linux: set runtime = "
                                 "\"onnxruntime\" or \"torch\" to use a GPU"))
    if runtime == "torch" and "tensorrt" in providers:
        out.append(("providers", "\"tensorrt\" is an ONNX Runtime provider; torch runs "
                                 "\"cuda\" or \"cpu\""))
    return out


@dataclass(frozen=True)
class BackendInfo:
    """What really runs a model: ``backend`` (litert, onnxruntime, torch), ``provider``
    (xnnpack, builtin, delegate, cpu, cuda, tensorrt), ``device`` (the CPU's or the
    GPU's name), ``precision`` (int8, fp32, fp16), ``fallback`` (a GPU was asked for and
    the CPU runs, as ``allow_cpu_fallback`` permits)."""

    backend: str
    provider: str
    device: str
    precision: str = "fp32"
    fallback: bool = False

    @property
    def on_gpu(self) -> bool:
        return self.provider in GPU_PROVIDERS

    def describe(self) -> str:
        """``backend=onnxruntime provider=cpu device=...`` (the one line everywhere)."""
        text = (f"backend={self.backend} provider={self.provider} precision={self.precision} "
                f"device={self.device!r}")
        return text + (" (GPU asked for, CPU fallback allowed)" if self.fallback else "")

    def to_json(self) -> dict[str, object]:
        return {"backend": self.backend, "provider": self.provider, "device": self.device,
                "precision": self.precision, "fallback": self.fallback}


@dataclass(frozen=True)
class BatchDefaults:
    """A batcher's ``max_batch`` and ``max_delay_ms`` where the config names none; each
    tier keeps a table of them by where its model runs (``cpu``, ``gpu``)."""

    max_batch: int
    max_delay_ms: float

    def over(self, max_batch: int | None, max_delay_ms: float | None) -> BatchDefaults:
        """The configured values, each unset one from these defaults."""
        return BatchDefaults(self.max_batch if max_batch is None else max_batch,
                             self.max_delay_ms if max_delay_ms is None else max_delay_ms)
