"""``edgecascade models onnx``: the edge and cloud tiers as ONNX files, registered with
their parity against the TFLite files.

For each of a workload's edge and cloud tiers: convert the ``.tflite`` to
``<same name>.onnx`` (:mod:`.onnx_convert`; ``models train`` instead exports it from the
Keras float source and this only registers it), run both files on the workload's test
split as the running system sees it (the frames the devices send), and record in the
registry an ``onnx`` entry with the same id and version: opset, precision, how it was
made, and the parity (top-1 agreement, largest probability difference).

    edgecascade models onnx                  # the bundled MNIST workload
    edgecascade models onnx --workload har   # or a workload folder
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.models.errors import ModelError
from edgecascade.models.registry import ModelEntry, OnnxInfo, Parity, Registry, sha256_file
from edgecascade.models.runners.onnx import OnnxRunner
from edgecascade.models.runtime import ModelRunner
from edgecascade.models.tensors import input_to_real, samples_to_input
from edgecascade.models.workload import Workload

from .latency import host_latency_ms
from .onnx_convert import MADE_BY_KEY, ONNX_TIERS, SOURCE_KEY, tflite_to_onnx


def split_frames(wl: Workload) -> tuple[np.ndarray, np.ndarray, str]:
    """The test split (the calibration split where there is none) as the frames the
    devices send: real values (N, *input shape), labels, split name."""
    reg = wl.registry(verify=False)
    split = "test" if wl.split_path("test").is_file() else "calib"
    ds = wl.load_split(split)
    spec = reg.for_tier("mcu").input
    x_q = samples_to_input(ds.images, ds.scale, ds.zero_point, spec)
    return input_to_real(x_q, spec), ds.labels, split


def write_onnx(model: Any, path: Path) -> None:
    tmp = path.with_suffix(".onnx.tmp")
    tmp.write_bytes(model.SerializeToString())
    tmp.replace(path)


def convert_tier(entry: ModelEntry) -> Path:
    """Write ``entry``'s ``.tflite`` as an ``.onnx`` beside it; returns the path."""
    out = entry.path.with_suffix(".onnx")
    write_onnx(tflite_to_onnx(entry.path, source_sha256=entry.sha256), out)
    return out


def parity(twin_probs: np.ndarray, probs: np.ndarray, split: str) -> Parity:
    """How far two runs of one model apart are (pure)."""
    agree = float((twin_probs.argmax(1) == probs.argmax(1)).mean())
    diff = float(np.abs(twin_probs.astype(np.float64) - probs).max()) if len(probs) else 0.0
    return Parity(split, len(probs), round(agree, 6), round(diff, 6))


def onnx_info(path: Path) -> OnnxInfo:
    """What an ONNX file says of itself: opset, float or QDQ, how and from what it was
    made (our metadata, else its producer); no parity."""
    import onnx

    proto = onnx.load_model(str(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    precision = ("qdq" if any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
                 else "float")
    made_by = (props.get(MADE_BY_KEY)
               or f"imported as is (producer: {proto.producer_name or 'unknown'} "
                  f"{proto.producer_version})".replace(" )", ")"))
    return OnnxInfo(opset, precision, made_by, props.get(SOURCE_KEY, ""), None)


def onnx_entry(twin: ModelEntry, path: Path, frames: np.ndarray, labels: np.ndarray,
               split: str, log: Callable[[str], None] = print) -> ModelEntry:
    """The registry entry of the ONNX file ``path``, the same model as ``twin``."""
    runner = OnnxRunner(path, entry=twin)
    probs = runner.predict_real(frames)
    twin_probs = ModelRunner(twin.path).predict_real(frames)
    par = parity(twin_probs, probs, split)
    info = replace(onnx_info(path), parity=par)
    acc = round(float((probs.argmax(1) == labels).mean()), 4)
    entry = replace(twin, file=path.name, sha256=sha256_file(path), size=path.stat().st_size,
                    input=replace(twin.input, dtype="float32", scale=0.0, zero_point=0),
                    output=replace(twin.output, dtype="float32", scale=0.0, zero_point=0),
                    arena_bytes=None, test_accuracy=acc,
                    host_latency_ms=host_latency_ms(runner.predict_real, frames[:1]),
                    format="onnx", onnx=info)
    log(f"  {entry.id} v{entry.version} onnx: {entry.size} B, acc {acc:.4f}, top-1 "
        f"agreement {par.top1_agreement:.4f} with {twin.file}, max prob diff "
        f"{par.max_prob_diff:.4g} ({par.samples} {split} samples)")
    return entry


def onnx_twins(reg: Registry, wl: Workload, *, convert: bool,
               log: Callable[[str], None] = print) -> tuple[ModelEntry, ...]:
    """The ONNX entries of ``reg``'s edge and cloud tiers: each ``.tflite`` converted
    when ``convert`` (or when its ``.onnx`` is missing or made from another file), an
    existing ``.onnx`` registered as it is otherwise."""
    frames, labels, split = split_frames(wl)
    out = []
    for tier in ONNX_TIERS:
        twin = reg.for_tier(tier)
        if twin.format != "tflite":
            continue
        path = twin.path.with_suffix(".onnx")
        if convert or not path.is_file() or onnx_info(path).source_sha256 != twin.sha256:
            path = convert_tier(twin)
        out.append(onnx_entry(twin, path, frames, labels, split, log))
    return tuple(out)


def register_onnx(wl: Workload, *, convert: bool = True,
                  log: Callable[[str], None] = print) -> Registry:
    """Convert (or take) and register a workload's ONNX twins; rewrites its registry."""
    reg = wl.registry(verify=True)
    twins = onnx_twins(reg, wl, convert=convert, log=log)
    new = Registry(reg.path, reg.models, reg.split, twins)
    reg.path.write_text(json.dumps(new.to_json(), indent=2) + "\n")
    log(f"wrote {reg.path}")
    return new


def main(workload: str, convert: bool = True) -> int:
    from edgecascade.models.workload import get_workload

    try:
        register_onnx(get_workload(workload), convert=convert)
    except ModelError as exc:
        print(f"edgecascade models onnx: {exc}")
        return 2
    return 0
