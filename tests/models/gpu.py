"""The ``gpu`` marker's skip: tests that need CUDA say so and skip, with the reason,
where there is none (scripts/test installs the gpu extra where ``nvidia-smi`` finds one)."""

from __future__ import annotations

import functools

import pytest


@functools.lru_cache(maxsize=1)
def cuda_missing() -> str:
    """Why CUDA cannot be used here ('' when it can, through ONNX Runtime or torch)."""
    why = []
    try:
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return ""
        why.append("onnxruntime has no CUDAExecutionProvider (the CPU build)")
    except ImportError:
        why.append("no onnxruntime")
    try:
        import torch

        if torch.cuda.is_available():
            return ""
        why.append(f"torch {torch.__version__} sees no CUDA device")
    except ImportError:
        why.append("no torch")
    return "no CUDA GPU: " + "; ".join(why)


#: ``@requires_cuda`` on a test: marked ``gpu``, skipped with the reason without CUDA.
def requires_cuda(test: object) -> object:
    return pytest.mark.gpu(pytest.mark.skipif(bool(cuda_missing()),
                                              reason=cuda_missing() or "cuda")(test))
