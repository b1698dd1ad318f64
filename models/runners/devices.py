"""Names of the devices a model runs on (read from the system; nothing is imported).

``gpu_name()`` reads the NVIDIA driver's ``/proc`` entry (x86 boxes), then
``nvidia-smi``, then the device tree's model (a Jetson, whose integrated GPU has no
``/proc/driver/nvidia/gpus`` entry); ``tensorrt_version()`` asks the ``tensorrt``
package, then the library ONNX Runtime would load. Both key the TensorRT engine cache.
"""

from __future__ import annotations

import functools
import glob
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


@functools.lru_cache(maxsize=8)
def gpu_name(device_id: int = 0) -> str:
    """The GPU's marketing name, or "" when none can be named."""
    infos = sorted(glob.glob("/proc/driver/nvidia/gpus/*/information"))
    if device_id < len(infos):
        try:
            for line in Path(infos[device_id]).read_text().splitlines():
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader",
                                  f"--id={device_id}"], capture_output=True, text=True,
                                 timeout=10, check=False).stdout.strip()
            if out:
                return out.splitlines()[0].strip()
        except (OSError, subprocess.SubprocessError):
            pass
    try:  # Jetson: the integrated GPU is named by the module
        model = Path("/proc/device-tree/model").read_bytes().rstrip(b"\0").decode()
        if "jetson" in model.lower() or "orin" in model.lower():
            return model
    except OSError:
        pass
    return ""


@functools.lru_cache(maxsize=1)
def tensorrt_version() -> str:
    """TensorRT's version (``10.3.0``), or "" when it is not installed."""
    try:
        import tensorrt  # the PyPI wheel on x86; python3-libnvinfer on a Jetson

        return str(tensorrt.__version__)
    except ImportError:
        pass
    import ctypes

    for lib in ("libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"):
        try:
            v = int(ctypes.CDLL(lib).getInferLibVersion())
        except (OSError, AttributeError):
            continue
        major, rest = divmod(v, 10000) if v >= 10000 else divmod(v, 1000)
        return f"{major}.{rest // 100}.{rest % 100}"
    return ""


def slug(text: str) -> str:
    """``NVIDIA GeForce RTX 4090`` -> ``nvidia-geforce-rtx-4090`` (a path component)."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "unknown"


#: Device nodes an NVIDIA GPU gives Linux: a discrete GPU's driver (x86) and a Jetson's
#: integrated GPU (nvgpu/nvhost, nvmap).
NVIDIA_NODES = ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvhost-ctrl-gpu", "/dev/nvgpu",
                "/dev/nvmap")


def nvidia_present() -> bool:
    """Whether this machine shows an NVIDIA GPU at all (cheap: no runtime imported), so
    ``runtime = "auto"`` does not load torch or a CUDA session only to find none."""
    return any(Path(node).exists() for node in NVIDIA_NODES)


#: Device nodes of a Jetson's integrated GPU (one per board).
JETSON_GPU_NODES = ("nvhost-ctrl-gpu", "nvgpu")


def gpu_ids(dev: Path = Path("/dev"), env: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs a process here may use, as ``CUDA_VISIBLE_DEVICES`` entries: the parent's
    own ``CUDA_VISIBLE_DEVICES`` list where it is set (an empty entry or ``-1`` ends it, as
    CUDA reads it), else one per ``/dev/nvidiaN`` node (x86), else ``["0"]`` for a Jetson's
    integrated GPU, else none. Nothing is imported, so it is cheap on a CPU box."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        out: list[str] = []
        for entry in (e.strip() for e in visible.split(",")):
            if not entry or entry == "-1":
                break
            out.append(entry)
        return out
    numbered = sorted((p.name[len("nvidia"):] for p in dev.glob("nvidia[0-9]*")
                       if p.name[len("nvidia"):].isdigit()), key=int)
    if numbered:
        return numbered
    return ["0"] if any((dev / node).exists() for node in JETSON_GPU_NODES) else []
