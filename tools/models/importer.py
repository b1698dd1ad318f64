"""``edgecascade models import``: bring your own three tiers and labelled data.

    edgecascade models import --mcu a.tflite --edge b.tflite --cloud c.tflite \\
        --data calib.npz [--test test.npz] [--labels labels.txt] --out my-workload

Checks each model (the mcu tier loads in tflite-micro with only the ops it has, is int8
in and out, fits the flash and measured-arena budget; every tier takes the same input
and gives the same classes), then writes a workload folder
(:mod:`edgecascade.models.workload`): the models, ``registry.json``, the data,
``thresholds.json`` (temperatures, cascade thresholds, the complexity reference, the
fallback rule), ``evaluation.json`` (with ``--test``) and ``firmware/`` (the C array
and the settings header). Walk-through: models/README.md.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.models.cascade import load_settings
from edgecascade.models.dataset import Dataset, read_npz, save_split
from edgecascade.models.errors import ModelError
from edgecascade.models.micro import MicroRunner
from edgecascade.models.registry import ModelEntry, Registry, TensorSpec, sha256_file
from edgecascade.models.runtime import open_model
from edgecascade.models.stats import mean_input
from edgecascade.models.workload import TIERS, Workload, write_workload_file

from .arena_probe import min_arena_bytes
from .calibrate import (
    ece_report,
    fit_operating_point,
    fit_temperatures,
    fusion_doc,
    monitoring_doc,
    test_point,
)
from .export_c import render as render_c_array
from .fallback_rule import measure_fallback
from .latency import host_latency_ms
from .outputs import TierOutputs, workload_outputs
from .search import Objective
from .settings_header import render_generic

#: Today's mcu budget (the MNIST mcu tier: 18 KB flash, 16 KB arena, on a 32 KB arena).
ARENA_BUDGET = 32 * 1024
FLASH_BUDGET = 64 * 1024


class ModelImportError(ModelError):
    """The models or data cannot be imported; ``problems`` lists every finding."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("models import", "; ".join(problems))


@dataclass(frozen=True)
class ImportRequest:
    name: str
    mcu: Path
    edge: Path
    cloud: Path
    calib: Path
    out: Path
    test: Path | None = None
    labels: Path | None = None
    layout: str = ""
    complexity: str = "mean_abs_distance"
    objective: Objective = Objective("max_cloud_share", 0.08, 0.4)
    arena_budget: int = ARENA_BUDGET
    flash_budget: int = FLASH_BUDGET
    allow_weaker_cloud: bool = False  # accept a cloud tier less accurate than the edge


def check_model_file(tier: str, path: Path) -> str | None:
    """:func:`check_tflite`, or for an edge or cloud ``.onnx`` (issue 20) whether ONNX
    Runtime can read it; the mcu tier stays int8 TFLite."""
    if path.suffix.lower() != ".onnx":
        return check_tflite(tier, path)
    if tier == "mcu":
        return (f"--mcu {path}: the mcu tier is an int8 .tflite (tflite-micro runs it); "
                ".onnx is for --edge and --cloud")
    return None  # open_model reads it and names what is wrong


def check_tflite(tier: str, path: Path) -> str | None:
    """Why ``path`` is not a whole ``.tflite`` flatbuffer (one line naming it), or None.
    Checked before any interpreter sees the bytes: a truncated file must not crash one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"--{tier} {path}: cannot read ({exc.strerror or exc})"
    if len(data) < 8 or data[4:8] != b"TFL3":
        return f"--{tier} {path}: not a .tflite file (no TFL3 identifier, {len(data)} bytes)"
    try:
        from ai_edge_litert import schema_py_generated as schema

        model = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a damaged file
        return (f"--{tier} {path}: damaged or truncated .tflite ({len(data)} bytes; "
                f"{type(exc).__name__} reading the flatbuffer)")
    if not model.subgraphs:
        return f"--{tier} {path}: .tflite without a subgraph"
    return None


def read_split(flag: str, path: Path, name: str, labels: tuple[str, ...] = ()) -> Dataset:
    """A ``.npz`` split, or ModelImportError naming the file and what is wrong."""
    import zipfile

    try:
        return read_npz(path, name, labels)
    except ModelError as exc:
        raise ModelImportError([f"--{flag} {path}: {exc.problem}"]) from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelImportError([f"--{flag} {path}: not a readable .npz split "
                                f"({type(exc).__name__}: {exc})"]) from None


def label_problem(flag: str, path: Path, data: Dataset, classes: int) -> str | None:
    if data.labels.size and (int(data.labels.max()) >= classes or int(data.labels.min()) < 0):
        bad = int(data.labels.max()) if int(data.labels.max()) >= classes \
            else int(data.labels.min())
        return (f"--{flag} {path}: label {bad} out of range: the models give {classes} "
                f"classes (0..{classes - 1})")
    return None


def tier_order_problem(req: ImportRequest, accuracy: dict[str, float]) -> str | None:
    """The cloud tier is the biggest model: one less accurate than the edge tier on the
    calibration split is almost always --edge and --cloud swapped."""
    if accuracy["cloud"] < accuracy["edge"] and not req.allow_weaker_cloud:
        return (f"--cloud {req.cloud}: less accurate than --edge {req.edge} on the "
                f"calibration split ({accuracy['cloud']:.4f} < {accuracy['edge']:.4f}); "
                "swapped --edge and --cloud? (--allow-weaker-cloud imports it anyway)")
    return None


def import_targets(ev: dict[str, Any], objective: Objective) -> dict[str, bool]:
    """An imported workload's targets: the objective it was calibrated for, checked on the
    test split (MNIST's own targets mean nothing for another workload; models/README.md)."""
    c, tiers = ev["cascade"], ev["tiers"]
    out = {f"leave_device_le_{objective.max_leave_device:g}":
           c["leave_device_share"] <= objective.max_leave_device + 1e-9,
           "cloud_at_least_as_accurate_as_edge":
           tiers["cloud"]["accuracy"] >= tiers["edge"]["accuracy"]}
    if objective.kind == "max_cloud_share":
        out[f"cloud_share_le_{objective.value:g}"] = c["cloud_share"] <= objective.value
    else:
        out[f"cascade_within_{objective.value * 100:g}_points_of_cloud"] = \
            c["accuracy_minus_cloud_only_points"] >= -objective.value * 100
    return out


def _squeeze(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def check_models(req: ImportRequest, calib: Dataset,
                 log: Callable[[str], None]) -> tuple[dict[str, Any], int]:
    """Load every tier, check agreement and the mcu budget; returns runners and arena."""
    problems: list[str] = []
    runners: dict[str, Any] = {}
    arena = 0
    damaged = {t: why for t in TIERS if (why := check_model_file(t, getattr(req, t)))}
    problems.extend(damaged.values())
    try:
        if "mcu" not in damaged:
            runners["mcu"] = MicroRunner(req.mcu, arena_size=256 * 1024)
    except ModelError as exc:
        problems.append(f"mcu: {exc.problem} (only ops tflite-micro has are allowed; int8 "
                        "in and out)")
    for tier in ("edge", "cloud"):
        try:
            if tier not in damaged:
                runners[tier] = open_model(getattr(req, tier))
        except ModelError as exc:
            problems.append(f"{tier}: {exc.problem}")
    if "mcu" in runners:
        size = req.mcu.stat().st_size
        if size > req.flash_budget:
            problems.append(f"mcu: {size} bytes of flatbuffer exceed the flash budget "
                            f"{req.flash_budget}")
        try:
            arena = min_arena_bytes(req.mcu)
            log(f"  mcu arena measured through tflite-micro: {arena} bytes")
            if arena > req.arena_budget:
                problems.append(f"mcu: needs a {arena}-byte arena, budget {req.arena_budget}")
        except RuntimeError as exc:
            problems.append(f"mcu: {exc}")
    if len(runners) == 3:
        shapes = {t: _squeeze(r.input_shape) for t, r in runners.items()}
        if len(set(shapes.values())) != 1:
            problems.append(f"tiers take different inputs: {shapes}")
        classes = {t: int(r.num_classes) for t, r in runners.items()}
        if len(set(classes.values())) != 1:
            problems.append(f"tiers give different class counts: {classes}")
        sample = _squeeze(tuple(calib.images.shape[1:]))
        if sample != shapes["mcu"]:
            problems.append(f"data samples {calib.images.shape[1:]} do not match the model "
                            f"input {runners['mcu'].input_shape}")
        if len(calib.label_names) != classes["mcu"]:
            problems.append(f"{len(calib.label_names)} labels for {classes['mcu']} classes")
        if (why := label_problem("data", req.calib, calib, classes["mcu"])) is not None:
            problems.append(why)
    if problems:
        raise ModelImportError(problems)
    return runners, arena


def _entry(req: ImportRequest, tier: str, runner: Any, arena: int | None, accuracy: float,
           labels: tuple[str, ...], file: str, latency_ms: float) -> ModelEntry:
    spec: TensorSpec = runner.input_spec
    if req.layout:
        spec = TensorSpec(spec.shape, spec.dtype, spec.scale, spec.zero_point, req.layout)
    oq = runner.output_quantization
    out = TensorSpec((int(runner.num_classes),), np.dtype(runner.output_dtype).name,
                     oq.scale, oq.zero_point, "vector")
    path = req.out / file
    onnx = None
    if path.suffix == ".onnx":  # an edge or cloud tier brought as ONNX (issue 20)
        from .onnx_registry import onnx_info

        onnx = onnx_info(path)
    return ModelEntry(id=f"{req.name}-{tier}", version=1, task=f"{req.name}-classification",
                      tier=tier, file=file, sha256=sha256_file(path), size=path.stat().st_size,
                      input=spec, output=out, labels=labels, arena_bytes=arena,
                      test_accuracy=round(accuracy, 4), host_latency_ms=latency_ms,
                      base_dir=req.out, format="onnx" if onnx else "tflite", onnx=onnx)


def _labels(req: ImportRequest, calib: Dataset) -> tuple[str, ...]:
    if req.labels is not None:
        return tuple(x.strip() for x in req.labels.read_text().splitlines() if x.strip())
    return calib.label_names


def run_import(req: ImportRequest, log: Callable[[str], None] = print) -> dict[str, Any]:
    calib = read_split("data", req.calib, "calib")
    labels = _labels(req, calib)
    calib = Dataset("calib", calib.images, calib.labels, labels, calib.scale,
                    calib.zero_point, calib.groups)
    test = read_split("test", req.test, "test", labels) if req.test is not None else None
    runners, arena = check_models(req, calib, log)
    if (test is not None and req.test is not None
            and (why := label_problem("test", req.test, test, len(labels)))):
        raise ModelImportError([why])
    probe, x_calib = workload_outputs("calib", calib, req.mcu, req.edge, req.cloud, None)
    calib_acc = {t: float((probe.probs[t].argmax(1) == probe.labels).mean()) for t in TIERS}
    if (why := tier_order_problem(req, calib_acc)) is not None:
        raise ModelImportError([why])
    o = req.objective
    log(f"  objective: {o.kind} {o.value:g} (cloud cap: at most {o.value:.0%} of frames "
        f"to the cloud, --max-cloud-share)" if o.kind == "max_cloud_share" else
        f"  objective: within {o.value:g} of cloud-only accuracy (no cloud cap)")
    log(f"  at most {o.max_leave_device:.0%} of frames leave the device (--max-leave-device)")
    req.out.mkdir(parents=True, exist_ok=True)
    files = {t: f"{req.name}-{t}{getattr(req, t).suffix}" for t in TIERS}
    for t in TIERS:
        shutil.copyfile(getattr(req, t), req.out / files[t])
    wl = Workload(req.name, req.out, req.name)
    save_split(calib, wl.split_path("calib"))
    if test is not None:
        save_split(Dataset("test", test.images, test.labels, labels, test.scale,
                           test.zero_point, test.groups), wl.split_path("test"))
    write_workload_file(req.out, req.name, req.name)

    paths = {t: req.out / files[t] for t in TIERS}
    mean_q = mean_input(x_calib) if req.complexity != "off" else None
    cal_out, _ = workload_outputs("calib", calib, paths["mcu"], paths["edge"],
                                  paths["cloud"], mean_q)
    eval_set = test if test is not None else calib
    acc_out = (workload_outputs("test", eval_set, paths["mcu"], paths["edge"], paths["cloud"],
                                mean_q)[0] if test is not None else cal_out)
    accuracy = {t: float((acc_out.probs[t].argmax(1) == acc_out.labels).mean()) for t in TIERS}
    one = calib.real()[:1]
    entries = tuple(_entry(req, t, runners[t], arena if t == "mcu" else None, accuracy[t],
                           labels, files[t], host_latency_ms(runners[t].predict_real, one))
                    for t in TIERS)
    reg = Registry(wl.registry_path, entries, {"dataset": req.name,
                                               "source": str(req.calib.name),
                                               "sizes": {"calib": len(calib),
                                                         "test": len(test or ())}})
    wl.registry_path.write_text(json.dumps(reg.to_json(), indent=2) + "\n")
    log(f"wrote {wl.registry_path}")

    doc = calibrate_outputs(cal_out, acc_out if test is not None else None, req, reg, mean_q,
                            x_calib.shape[1:], calib.groups)
    wl.thresholds_path.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {wl.thresholds_path}")
    if test is not None:
        from .evaluate import evaluate, format_table

        ev, _ = evaluate(load_settings(wl.thresholds_path), acc_out)
        ev["targets"] = {**import_targets(ev, req.objective),
                         **{k: v for k, v in ev["targets"].items() if k.startswith("fused_")}}
        ev["models"] = {m.tier: {"id": m.id, "version": m.version, "sha256": m.sha256,
                                 "size": m.size} for m in reg.models}
        wl.evaluation_path.write_text(json.dumps(ev, indent=1) + "\n")
        log(format_table(ev))
        log(f"wrote {wl.evaluation_path}")
    fw = req.out / "firmware"
    fw.mkdir(exist_ok=True)
    arr = render_c_array(paths["mcu"].read_bytes(), files["mcu"])
    (fw / "mcu_model_data.h").write_text(arr.header)
    (fw / "mcu_model_data.c").write_text(arr.source)
    (fw / "ec_settings.h").write_text(render_generic(doc, reg.for_tier("mcu")))
    log(f"wrote {fw}/mcu_model_data.{{h,c}} and ec_settings.h")
    return doc


def calibrate_outputs(calib: TierOutputs, test: TierOutputs | None, req: ImportRequest,
                      reg: Registry, mean_q: np.ndarray | None,
                      shape: tuple[int, ...], groups: np.ndarray | None = None
                      ) -> dict[str, Any]:
    """Pure core of the import's calibration: the thresholds document."""
    temps = fit_temperatures(calib)
    cloud_only = float((calib.probs["cloud"].argmax(1) == calib.labels).mean())
    fit = fit_operating_point(calib, temps, req.objective)
    point = fit.point
    doc: dict[str, Any] = {
        "schema": 1,
        "generated_by": "edgecascade models import (do not edit)",
        "models": {m.tier: {"id": m.id, "version": m.version, "sha256": m.sha256}
                   for m in reg.models},
        "thresholds": point.thresholds.as_file(),
        "temperatures": temps,
        "objective": req.objective.to_json(),
        "operating_point": {"calib": {**point.to_json(), "cloud_only_accuracy": cloud_only}},
        "ece": {"calib": ece_report(calib, temps)},
        "complexity": ({"kind": "off"} if mean_q is None else
                       {"kind": "mean_abs_distance", "shape": list(shape),
                        "mean_input": mean_q.astype(int).ravel().tolist()}),
        "fallback": measure_fallback(calib, temps, point.thresholds, groups).to_json(),
        "fusion": fusion_doc(fit),
        "monitoring": monitoring_doc(calib, temps, fit, mean_q is not None),
    }
    if test is not None:
        doc["operating_point"]["test"] = test_point(test, temps, fit)
    return doc
