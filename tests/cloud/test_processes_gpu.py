"""``cloud-worker --processes auto`` on a GPU box: one process per visible GPU, each
seeing only its own. The GPUs are device nodes in a scratch ``/dev`` (the seam
``gpu_ids(dev, env)`` reads), so this runs on the CPU-only CI."""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from edgecascade.cloud.config import ModelConfig
from edgecascade.cloud.processes import ProcessPlan, auto_plan, may_use_gpu, supervise
from edgecascade.models.runners.devices import gpu_ids


def _dev(tmp_path: Path, *nodes: str) -> Path:
    dev = tmp_path / "dev"
    dev.mkdir()
    for node in nodes:
        (dev / node).touch()
    return dev


def test_gpu_ids_from_device_nodes_jetson_and_cuda_visible_devices(tmp_path: Path) -> None:
    x86 = _dev(tmp_path, "nvidia1", "nvidia0", "nvidia10", "nvidiactl", "nvidia-uvm")
    assert gpu_ids(x86, env={}) == ["0", "1", "10"]
    # the parent's own list wins; an empty entry or -1 ends it, as CUDA reads it
    assert gpu_ids(x86, env={"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert gpu_ids(x86, env={"CUDA_VISIBLE_DEVICES": "1,-1,0"}) == ["1"]
    assert gpu_ids(x86, env={"CUDA_VISIBLE_DEVICES": ""}) == []
    jetson = tmp_path / "j"
    jetson.mkdir()
    (jetson / "nvgpu").touch()
    assert gpu_ids(jetson, env={}) == ["0"]
    cpu_box = tmp_path / "c"
    cpu_box.mkdir()
    assert gpu_ids(cpu_box, env={}) == []


@pytest.mark.parametrize(("runtime", "providers", "gpu"), [
    ("litert", (), False), ("onnxruntime", ("cpu",), False), ("onnxruntime", (), True),
    ("onnxruntime", ("tensorrt", "cuda"), True), ("torch", (), True), ("auto", (), True),
])
def test_auto_is_one_per_gpu_only_for_a_model_that_runs_on_one(runtime, providers,
                                                               gpu) -> None:
    model = replace(ModelConfig(path="m.onnx"), runtime=runtime, providers=providers)
    assert may_use_gpu(model) is gpu
    plan = auto_plan(model, cores=16, gpus=["0", "1"])
    assert plan == (ProcessPlan(2, ("0", "1")) if gpu else ProcessPlan(16))
    assert auto_plan(model, cores=16, gpus=[]) == ProcessPlan(16)  # no GPU here: per core


def test_each_child_sees_only_its_own_gpu(tmp_path: Path) -> None:
    plan = ProcessPlan(2, ("3", "5"))
    out = [tmp_path / f"child{i}" for i in range(2)]
    # each writes what it sees, then waits for the other's file before exiting: the
    # supervisor stops the group when the first child exits
    write = ("import os, sys, time; open(sys.argv[1], 'w').write("
             "os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'))\n"
             "end = time.monotonic() + 20\n"
             "while not os.path.exists(sys.argv[2]) and time.monotonic() < end:\n"
             "    time.sleep(0.05)")
    commands = [[sys.executable, "-c", write, str(out[i]), str(out[1 - i])] for i in range(2)]
    # children that exit on their own count as a failure of the group (rc 1)
    assert supervise(commands, threading.Event(), 5.0,
                     [plan.child_env(i) for i in range(2)]) == 1
    assert [f.read_text() for f in out] == ["3", "5"]
    assert ProcessPlan(4).child_env(0) is None  # CPU processes inherit the environment
