"""The GPU benchmark: every model runtime this machine has, against the CPU baselines of
the same run.

    python -m edgecascade.tools.bench.gpu [--quick]

Backends: LiteRT-CPU and ORT-CPU (the baselines, on all the machine's cores; they
always run), ORT-CUDA, ORT-TensorRT fp32/fp16 and torch-CUDA fp32/fp16 where
installed and active. A backend that is not is one ``skipped:`` line saying why (the
same refusal the gateway gives), never a silent CPU row.

Models: the MNIST and HAR edge and cloud tiers (their ``.tflite`` for LiteRT, their
registered ONNX twins for the rest) and a camera-scale classifier, MobileNetV2 at
96x96x3 and 224x224x3 built with random weights (``tools/models/onnx_mobilenet.py``:
throughput does not depend on the weights).

Rows, each against a baseline measured in this run:

* model alone: frames/s at batch 1..256 per backend (p99 time per call in the row's
  name) vs the model's CPU baseline (LiteRT-CPU for the shipped tiers, ORT-CPU for the
  camera model) at the same batch; the baseline itself vs its own batch 1;
* the gateway's edge tier through the dynamic batcher vs that backend's model-alone
  ceiling at its best batch (target >= 0.9 on a GPU);
* the cloud worker end to end (real mosquitto, 32-frame requests) on each backend vs one
  CPU worker process (LiteRT, 1 thread; target >= 20x on a GPU);
* the camera model at batch 32 on each GPU backend vs ORT-CPU on all cores (>= 10x);
* TensorRT engine build cold vs loaded from the engine cache.

It runs offline from a checkout plus the wheels it needs (numpy, ai-edge-litert, onnx,
onnxruntime or onnxruntime-gpu, optionally tensorrt and torch): nothing is downloaded.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.models.errors import ModelError
from edgecascade.models.registry import MODELS_DIR
from edgecascade.models.runners.settings import RuntimeSettings
from edgecascade.models.runtime import open_runner
from edgecascade.tools.bench.common import Row, bench_main, machine, percentile

COMMAND = "python -m edgecascade.tools.bench.gpu"
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
#: Batches the CPU runs the 224x224 model at (one batch-256 call takes seconds there).
CPU_224_MAX_BATCH = 32
CAMERA_BATCH = 32
_SKIPPED: list[str] = []


@dataclass(frozen=True)
class Backend:
    name: str
    settings: RuntimeSettings
    gpu: bool = False

    @property
    def tflite(self) -> bool:
        return self.settings.runtime == "litert"


def backends(cache_dir: str) -> list[Backend]:
    cpu = RuntimeSettings(num_threads=CORES)
    ort = replace(cpu, runtime="onnxruntime", providers=("cpu",))
    trt = replace(ort, providers=("tensorrt",), cache_dir=cache_dir)
    torch = replace(cpu, runtime="torch", providers=("cuda",))
    return [
        Backend("LiteRT-CPU", replace(cpu, runtime="litert")),
        Backend("ORT-CPU", ort),
        Backend("ORT-CUDA", replace(ort, providers=("cuda",)), gpu=True),
        Backend("ORT-TensorRT fp32", trt, gpu=True),
        Backend("ORT-TensorRT fp16", replace(trt, fp16=True), gpu=True),
        Backend("torch-CUDA fp32", torch, gpu=True),
        Backend("torch-CUDA fp16", replace(torch, fp16=True), gpu=True),
    ]


@dataclass(frozen=True)
class Model:
    name: str
    path: Path  # the .tflite (its ONNX twin is registered) or an .onnx
    baseline: str  # the CPU backend the rows compare with

    @property
    def has_tflite(self) -> bool:
        return self.path.suffix == ".tflite"


def models(folder: Path) -> list[Model]:
    out = [Model(f"{stem.split('/')[-1]}", MODELS_DIR / f"{stem}.tflite", "LiteRT-CPU")
           for stem in ("mnist-edge", "mnist-cloud", "har/har-edge", "har/har-cloud")]
    try:
        import onnx
    except ImportError:
        skip("MobileNetV2 (camera-scale): not built: the onnx package is not installed "
             "(pip install 'edgecascade[onnx]')")
        return out
    from edgecascade.tools.models.onnx_mobilenet import mobilenet_v2

    for size in (96, 224):
        path = folder / f"mobilenetv2-{size}.onnx"
        onnx.save(mobilenet_v2(size), str(path))
        out.append(Model(f"mobilenetv2-{size}x{size}x3", path, "ORT-CPU"))
    return out


@dataclass(frozen=True)
class Timing:
    fps: float
    p99_ms: float
    calls: int

    @classmethod
    def of(cls, batch: int, times: list[float]) -> Timing:
        """Frames/s at the median call (robust to a shared machine's stalls) and the p99
        time of one call."""
        return cls(batch / statistics.median(times), percentile(times, 99) * 1e3, len(times))


def call_times(run: Callable[[], object], budget_s: float, min_calls: int = 2) -> list[float]:
    """Seconds per call of ``run`` for ``budget_s`` (at least ``min_calls``), after a
    warm-up call."""
    run()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return times


def predict_first(runner: Any, x: np.ndarray, n: int) -> object:
    """The runner on the first ``n`` inputs of ``x`` (one timed call)."""
    return runner.predict_real(x[:n])


def interleaved(runs: Mapping[str, Callable[[], object]], batch: int, budget_s: float,
                rounds: int) -> dict[str, Timing]:
    """Every runner in turn, ``rounds`` times, ``budget_s`` each in all: a load that
    comes and goes on a shared machine hits baseline and candidate alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name] += call_times(run, budget_s / rounds)
    return {name: Timing.of(batch, t) for name, t in times.items()}


def skip(line: str) -> None:
    _SKIPPED.append(line)
    print(f"skipped: {line}", flush=True)


def skipped_lines() -> list[str]:
    """The backends (and cases) the last run could not measure, one line each, why."""
    return list(_SKIPPED)


def open_backend(b: Backend, m: Model, refused: dict[str, str]) -> Any:
    """The runner of ``m`` on ``b``, or None (a backend refused once is skipped after)."""
    if b.name in refused:
        return None
    try:
        return open_runner(m.path, b.settings)
    except ModelError as exc:
        refused[b.name] = exc.problem
        skip(f"{b.name}: not measured ({exc.problem})")
        return None


def batches(quick: bool) -> tuple[int, ...]:
    return (1, 32, 256) if quick else (1, 8, 32, 128, 256)


def model_rows(m: Model, bks: list[Backend], quick: bool, refused: dict[str, str],
               ceilings: dict[tuple[str, str], tuple[float, int]]) -> list[Row]:
    """The model alone on every backend at every batch, against its CPU baseline; the
    backends of one batch measured in turns (:func:`interleaved`)."""
    budget, rounds = (0.6, 3) if quick else (2.0, 5)
    runners: dict[str, Any] = {}
    for b in bks:
        if b.tflite and not m.has_tflite:
            continue  # the camera model is ONNX only
        runner = open_backend(b, m, refused)
        if runner is not None:
            runners[b.name] = runner
    if not runners:
        return []
    shape = next(iter(runners.values())).input_shape
    x = np.random.default_rng(0).random((max(batches(quick)), *shape), dtype=np.float32)
    gpu = {b.name: b.gpu for b in bks}
    timings: dict[tuple[str, int], Timing] = {}
    for n in batches(quick):
        runs: dict[str, Callable[[], object]] = {
            name: partial(predict_first, r, x, n) for name, r in runners.items()
            if gpu[name] or "224" not in m.name or n <= CPU_224_MAX_BATCH}
        for name, t in interleaved(runs, n, budget, rounds).items():
            timings[name, n] = t
    for name, r in runners.items():
        best = max((t.fps, n) for (b, n), t in timings.items() if b == name)
        ceilings[m.name, name] = best
        print(f"  {m.name} on {r.info.describe()}: best {best[0]:.4g} frames/s at batch "
              f"{best[1]}", flush=True)
    rows: list[Row] = []
    for (name, n), t in timings.items():
        against = (m.baseline, n) if name != m.baseline else (m.baseline, 1)
        if against not in timings or (name, n) == against:
            continue
        target = ""
        if gpu[name] and m.name.startswith("mobilenetv2") and n == CAMERA_BATCH:
            target = ">= 10 (GPU vs ORT-CPU on all cores)"
        rows.append(Row(
            f"{m.name} alone, {name} batch {n} (p99 {t.p99_ms:.3g} ms/call) vs "
            f"{against[0]} batch {against[1]}", t.fps, timings[against].fps, "frames/s",
            COMMAND, target))
    return rows


def edge_tier_rows(m: Model, bks: list[Backend], quick: bool, refused: dict[str, str],
                   ceilings: dict[tuple[str, str], tuple[float, int]]) -> list[Row]:
    """The gateway's edge tier through the dynamic batcher at the backend's best batch
    vs that backend's model-alone ceiling."""
    from edgecascade.gateway.edge import RunnerEdgeModel
    from edgecascade.tools.bench.gateway_batching import pipeline

    total = 4096 if quick else 8192
    rows: list[Row] = []
    for b in bks:
        if (m.name, b.name) not in ceilings or b.name in refused:
            continue
        best = ceilings[m.name, b.name][1]
        model = RunnerEdgeModel(str(m.path), settings=b.settings)
        x = np.random.default_rng(1).random((256, *model.input_shape), dtype=np.float32)
        alone, piped = [], []
        for _ in range(3):  # in turns, as the model rows
            t = call_times(partial(predict_first, model.runner, x, best),
                           0.3 if quick else 1.0)
            alone.append(best / statistics.median(t))
            piped.append(pipeline(model, x, best, total)[0])
        rows.append(Row(f"edge tier ({m.name}) through the batcher on {b.name}, max_batch "
                        f"{best} vs the model alone at its best batch ({best})",
                        statistics.median(piped), statistics.median(alone), "frames/s",
                        COMMAND, ">= 0.9" if b.gpu else ""))
    return rows


def cloud_worker_rows(bks: list[Backend], quick: bool, refused: dict[str, str]) -> list[Row]:
    """The cloud worker end to end on each backend vs one CPU worker process (LiteRT,
    one thread, as deployed), same broker, same requests."""
    from edgecascade.tools.bench import cloud_harness as h
    from edgecascade.tools.bench.cloud_throughput import burst_fps

    frames, repeats = (256, 3) if quick else (2048, 5)
    rows: list[Row] = []
    try:
        broker = h.broker()
        b_ctx = broker.__enter__()
    except Exception as exc:  # no mosquitto here: the other rows still count
        skip(f"cloud worker end to end: no broker ({type(exc).__name__}: {exc})")
        return rows
    try:
        def fps(runtime: dict[str, Any], max_batch: int) -> float:
            return burst_fps(b_ctx, frames, per_request=32, max_batch=max_batch,
                             repeats=repeats, runtime=runtime)

        base = fps({"runtime": "litert", "num_threads": 1}, 64)
        for b in bks:
            if b.name in refused or b.tflite:
                continue
            s = b.settings
            runtime = {"runtime": s.runtime, "providers": list(s.providers), "fp16": s.fp16,
                       "num_threads": 1 if not b.gpu else CORES}
            if s.cache_dir:
                runtime["engine_cache_dir"] = s.cache_dir
            batch = 256 if b.gpu else 64
            rows.append(Row(f"cloud worker end to end (mnist-cloud, 32-frame requests, max_batch "
                            f"{batch}) on {b.name}{'' if b.gpu else ' 1 thread'} vs one CPU "
                            "worker process (LiteRT, 1 thread)", fps(runtime, batch), base,
                            "frames/s", COMMAND, ">= 20" if b.gpu else ""))
    finally:
        broker.__exit__(None, None, None)
    return rows


def tensorrt_rows(m: Model, bks: list[Backend], refused: dict[str, str]) -> list[Row]:
    """Engine build on an empty cache vs the same session from the cache."""
    rows: list[Row] = []
    for b in bks:
        if not b.name.startswith("ORT-TensorRT") or b.name in refused:
            continue
        with tempfile.TemporaryDirectory() as cache:
            s = replace(b.settings, cache_dir=cache)
            x = np.zeros((1, *open_runner(m.path, replace(s, runtime="onnxruntime",
                                                          providers=("cpu",))).input_shape),
                         np.float32)

            def first_answer(s: RuntimeSettings = s, x: np.ndarray = x) -> float:
                t0 = time.perf_counter()
                open_runner(m.path, s).predict_real(x)  # TensorRT builds at the first run
                return time.perf_counter() - t0

            cold = first_answer()
            cached = first_answer()
        rows.append(Row(f"TensorRT engine ({m.name}, {b.name}): load from the engine cache vs "
                        "cold build (session + first answer)", cached, cold, "s", COMMAND,
                        "<< 1"))
    return rows


def run(quick: bool = False) -> list[Row]:
    _SKIPPED.clear()
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        bks = backends(str(Path(tmp) / "engines"))
        refused: dict[str, str] = {}
        ceilings: dict[tuple[str, str], tuple[float, int]] = {}
        rows: list[Row] = []
        all_models = models(Path(tmp))
        for m in all_models:
            print(f"== {m.name}", flush=True)
            rows += model_rows(m, bks, quick, refused, ceilings)
        edge = next(m for m in all_models if m.name == "mnist-edge")
        rows += edge_tier_rows(edge, bks, quick, refused, ceilings)
        rows += cloud_worker_rows(bks, quick, refused)
        if not any(b.name.startswith("ORT-TensorRT") and b.name not in refused for b in bks):
            skip("TensorRT engine build cold vs cached: no TensorRT provider active")
        camera = [m for m in all_models if "224" in m.name]
        rows += tensorrt_rows(camera[0], bks, refused) if camera else []
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__)
    if _SKIPPED:
        print("\n".join(f"skipped: {line}" for line in _SKIPPED), file=sys.stdout)
