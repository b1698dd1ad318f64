"""Rebuild ``models/registry.json`` from the model files (never edit it by hand)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgecascade.models.dataset import get_source, load_split
from edgecascade.models.errors import ModelError
from edgecascade.models.micro import MicroRunner
from edgecascade.models.registry import (
    ModelEntry,
    Registry,
    TensorSpec,
    load_registry,
    sha256_file,
)
from edgecascade.models.runtime import ModelRunner

from .arena_probe import min_arena_bytes
from .latency import host_latency_ms
from .onnx_convert import ONNX_TIERS
from .onnx_registry import onnx_twins
from .paths import MODELS_DIR, REGISTRY_JSON

TASK = "mnist-digit-classification"
TIERS = ("mcu", "edge", "cloud")


def model_file(tier: str) -> Path:
    return MODELS_DIR / f"mnist-{tier}.tflite"


def _spec(dtype: np.dtype, shape: tuple[int, ...], q_scale: float, q_zp: int) -> TensorSpec:
    return TensorSpec(tuple(shape), np.dtype(dtype).name, q_scale, q_zp)


def build_entry(tier: str, previous: Registry | None, log: Callable[[str], None]) -> ModelEntry:
    path = model_file(tier)
    test = load_split("test")
    runner = ModelRunner(path)
    if tier == "mcu":
        arena = min_arena_bytes(path)
        probs = MicroRunner(path, arena_size=arena).predict(test.images)
    else:
        arena = None
        probs = runner.predict(test.images)
    accuracy = round(float((probs.argmax(axis=1) == test.labels).mean()), 4)
    digest = sha256_file(path)
    model_id = f"mnist-{tier}"
    version = 1
    if previous is not None:
        try:
            old = previous.get(model_id)
            version = old.version if old.sha256 == digest else old.version + 1
        except ModelError:
            pass
    iq, oq = runner.input_quantization, runner.output_quantization
    entry = ModelEntry(
        id=model_id, version=version, task=TASK, tier=tier, file=path.name, sha256=digest,
        size=path.stat().st_size,
        input=_spec(runner.input_dtype, runner.input_shape, iq.scale, iq.zero_point),
        output=_spec(runner.output_dtype, (runner.num_classes,), oq.scale, oq.zero_point),
        labels=get_source().label_names, arena_bytes=arena, test_accuracy=accuracy,
        host_latency_ms=host_latency_ms(runner.predict, test.images[:1]),
    )
    log(f"  {model_id} v{version}: {entry.size} B, acc {accuracy:.4f}, "
        f"arena {arena}, {entry.host_latency_ms} ms")
    return entry


def build_registry(log: Callable[[str], None] = print, path: Path = REGISTRY_JSON) -> Registry:
    previous = None
    if path.is_file():
        try:
            previous = load_registry(path, verify=False)
        except ModelError as exc:
            log(f"  ignoring unreadable previous registry: {exc}")
    split = get_source().split_record().to_json()
    split.pop("train_mean")  # the mean image lives in thresholds.json
    entries = tuple(build_entry(t, previous, log) for t in TIERS if model_file(t).is_file())
    reg = Registry(path, entries, split)
    if path == REGISTRY_JSON and any(model_file(t).with_suffix(".onnx").is_file()
                                     for t in ONNX_TIERS):
        # the ONNX twins: those `models train` exported kept, stale ones converted again
        from edgecascade.models.workload import MNIST

        path.write_text(json.dumps(reg.to_json(), indent=2) + "\n")
        reg = Registry(path, entries, split, onnx_twins(reg, MNIST, convert=False, log=log))
    path.write_text(json.dumps(reg.to_json(), indent=2) + "\n")
    log(f"wrote {path}")
    return load_registry(path)
