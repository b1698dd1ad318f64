"""Which ONNX Runtime providers to ask for, and whether what ONNX Runtime made of the
request may run (pure: the names in, a plan or a refusal out).

ONNX Runtime silently falls back to the CPU provider when the CUDA or TensorRT
libraries do not load: the session is created and runs, only slower. So the session's
*active* providers (``session.get_providers()``) are compared with what was asked, and
a GPU asked for and not active refuses the model (one line naming the provider and
why), unless ``allow_cpu_fallback``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelError
from .settings import GPU_PROVIDERS, PROVIDERS


class ProviderRefused(ModelError):
    """A GPU provider asked for is not active and the CPU fallback is not allowed."""

#: Our provider names -> ONNX Runtime's.
ORT_NAMES = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
             "cpu": "CPUExecutionProvider"}
OURS = {v: k for k, v in ORT_NAMES.items()}


@dataclass(frozen=True)
class ProviderPlan:
    """The providers to create the session with (ours, in order) and why the others
    asked for are not among them (provider -> reason)."""

    use: tuple[str, ...]
    missing: dict[str, str]


def plan_providers(requested: tuple[str, ...], available: list[str]) -> ProviderPlan:
    """``requested`` (ours; empty: every available one, best first) against ONNX
    Runtime's ``get_available_providers()``. The CPU provider always closes the list:
    ONNX Runtime adds it anyway, and a refusal is decided on the active list."""
    wanted = requested or PROVIDERS
    use, missing = [], {}
    for p in wanted:
        if ORT_NAMES[p] in available:
            use.append(p)
        elif p != "cpu":
            missing[p] = (f"{ORT_NAMES[p]} is not in this onnxruntime build (it has "
                          f"{', '.join(OURS.get(a, a) for a in available) or 'none'}); "
                          "install onnxruntime-gpu (x86) or NVIDIA's Jetson wheel")
    if "cpu" not in use:
        use.append("cpu")
    return ProviderPlan(tuple(use), missing)


def active_provider(requested: tuple[str, ...], plan: ProviderPlan, active: list[str],
                    allow_cpu_fallback: bool) -> tuple[str, bool, str | None]:
    """(provider that runs, fallback?, refusal or None) from the session's active
    providers. The provider that runs is the first of the plan that is active."""
    names = [OURS.get(a, a) for a in active]
    running = next((p for p in plan.use if p in names), names[0] if names else "cpu")
    asked_gpu = [p for p in requested if p in GPU_PROVIDERS]
    if not asked_gpu or running in GPU_PROVIDERS:
        return running, False, None
    first = asked_gpu[0]
    why = plan.missing.get(first) or (
        f"{ORT_NAMES[first]} is in this onnxruntime build but did not load (no GPU, or "
        "its CUDA/cuDNN/TensorRT libraries are missing: onnxruntime logged the cause)")
    if allow_cpu_fallback:
        return running, True, None
    return running, False, (f"provider {first!r} is not active: {why}; set "
                            "allow_cpu_fallback = true to run on the CPU")
