"""``cloud-worker --processes N``: N worker processes on the same shared subscription.

One worker process uses one core (the model, msgpack and paho all hold the GIL); the
broker's ``$share`` group spreads requests across the processes, so N processes use N
cores. :func:`instance_config` is the pure part: process ``i`` is the same config with
its own ``worker_id`` (``<worker_id>-<i>``, which is its MQTT client id and its state
topic) and, when ``[http]`` is on with a fixed port, its own port (``port + i``).
:func:`supervise` is the shell: start the children, forward SIGTERM/SIGINT to each (each
drains its own in-hand requests), and stop all if one dies.

On a GPU the model is not bound by a core: ``--processes auto`` then starts one process per
visible GPU, each seeing only its own (``CUDA_VISIBLE_DEVICES``), because several
processes sharing one GPU contend for it without adding throughput (raise
``[model] max_batch`` instead). :func:`auto_plan` is that choice, pure.

On AWS IoT Core each connection has its own 100 publishes/s quota (N processes, N
quotas), but the policy ``provision-aws`` writes lets a thing connect and publish its
state only under its own name: there, provision one thing per process (``<worker>-0``,
``<worker>-1``...) and run them as separate single-process workers.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from edgecascade.models.runners.settings import GPU_PROVIDERS

from .config import ModelConfig, WorkerConfig

log = logging.getLogger("edgecascade.cloud.processes")


def instance_config(config: WorkerConfig, index: int) -> WorkerConfig:
    """Process ``index``'s config: its own worker id and metrics port, the same group."""
    if index < 0:
        raise ValueError("index must be >= 0")
    http = config.http
    if http.enabled and http.port:
        http = replace(http, port=http.port + index)
    return replace(config, worker_id=f"{config.worker_id}-{index}", http=http)


def default_processes() -> int:
    """The cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def may_use_gpu(model: ModelConfig) -> bool:
    """Whether the worker's model would run on a GPU where one is present: torch, a GPU
    provider named, or ONNX Runtime / auto left to pick the best available."""
    if GPU_PROVIDERS & set(model.providers) or model.runtime == "torch":
        return True
    return model.runtime in ("onnxruntime", "auto") and not model.providers


@dataclass(frozen=True)
class ProcessPlan:
    """How many worker processes, and each one's GPU (``CUDA_VISIBLE_DEVICES``) when the
    plan is one per GPU (empty: CPU processes, one core each)."""

    count: int
    gpus: tuple[str, ...] = ()

    def child_env(self, index: int) -> dict[str, str] | None:
        """Process ``index``'s environment (None: inherit the parent's as it is)."""
        if not self.gpus:
            return None
        return {**os.environ, "CUDA_VISIBLE_DEVICES": self.gpus[index]}


def auto_plan(model: ModelConfig, cores: int, gpus: Sequence[str]) -> ProcessPlan:
    """``--processes auto``: one per visible GPU for a model that runs on one, else one
    per core."""
    if gpus and may_use_gpu(model):
        return ProcessPlan(len(gpus), tuple(gpus))
    return ProcessPlan(max(1, cores))


def child_command(config_path: str, index: int, drain_timeout: float,
                  log_level: str | None, *, wait: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "edgecascade.cli"]
    if log_level:
        cmd += ["--log-level", log_level]
    cmd += ["cloud-worker", "--config", config_path, "--instance", str(index),
            "--drain-timeout", str(drain_timeout)]
    return cmd + ["--wait"] if wait else cmd


def supervise(commands: list[list[str]], stop: threading.Event, drain_timeout: float,
              envs: Sequence[dict[str, str] | None] | None = None) -> int:
    """Run every command (command ``i`` with ``envs[i]`` when given); on ``stop`` (or one
    child exiting) SIGTERM the rest and wait.

    Returns 0 when every child exited 0 after a requested stop, otherwise 1.
    """
    envs = envs if envs is not None else [None] * len(commands)
    children = [subprocess.Popen(cmd, env=env) for cmd, env in zip(commands, envs, strict=True)]
    log.info("worker processes started", extra={"pids": [c.pid for c in children]})
    failed = False
    while not stop.wait(0.2):
        dead = [c for c in children if c.poll() is not None]
        if dead:
            failed = True
            log.error("a worker process exited; stopping the others",
                      extra={"pid": dead[0].pid, "returncode": dead[0].returncode})
            break
    for c in children:
        if c.poll() is None:
            c.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + drain_timeout + 10
    for c in children:
        try:
            c.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker process did not stop in time; killing it", extra={"pid": c.pid})
            c.kill()
            c.wait()
            failed = True
    return 1 if failed or any(c.returncode != 0 for c in children) else 0
