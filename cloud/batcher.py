"""A micro-batcher: frames of requests that arrive together go through the model as one batch.

One thread. It waits for the first job, then keeps collecting jobs until the batch
holds ``max_batch`` frames or ``max_delay`` seconds have passed since that first job,
runs ``predict`` once per ``max_batch`` chunk, and hands each job its own rows.
A job larger than ``max_batch`` is split across chunks, never delayed.

Failure isolation: when a batch fails, each job in it is retried alone, so one job
the model rejects cannot fail the others; a job that fails alone gets the exception.
``close()`` stops taking jobs and, by default, finishes every job already submitted.

The batching decision is the pure :func:`plan` (queued job sizes and time waited in,
"take n jobs" or "wait s seconds" out); the thread only waits and runs the model.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edgecascade.errors import CloudError
from edgecascade.models.runners.settings import BatchDefaults

Predict = Callable[[np.ndarray], np.ndarray]
Done = Callable[[np.ndarray | None, BaseException | None], None]


#: The worker's batch defaults by where its model runs, when ``[model]`` names none.
#: CPU: the measured ones (cloud_throughput rows: 64 frames, 5 ms). GPU: larger
#: batches, as the per-call overhead dominates there; provisional until a GPU run of
#: ``python -m edgecascade.tools.bench.gpu`` measures the best batch (docs/performance.md).
BATCH_DEFAULTS = {"cpu": BatchDefaults(64, 5.0), "gpu": BatchDefaults(256, 5.0)}


def batch_settings(max_batch: int | None, max_delay_ms: float | None,
                   on_gpu: bool) -> BatchDefaults:
    """The configured values, each unset one from :data:`BATCH_DEFAULTS`."""
    return BATCH_DEFAULTS["gpu" if on_gpu else "cpu"].over(max_batch, max_delay_ms)


class BatcherClosed(CloudError, RuntimeError):
    """``submit`` after ``close``."""


@dataclass
class Job:
    """``pixels`` (n, H, W) uint8, or None for n = 0; ``done(probs, error)`` is called once."""

    pixels: np.ndarray | None
    done: Done

    @property
    def size(self) -> int:
        return 0 if self.pixels is None else int(self.pixels.shape[0])


@dataclass(frozen=True)
class Take:
    """Run the first ``jobs`` queued jobs as one batch."""

    jobs: int


@dataclass(frozen=True)
class Wait:
    """Collect for ``seconds`` more (or until another job arrives)."""

    seconds: float


def plan(sizes: Sequence[int], waited: float, *, max_batch: int, max_delay: float,
         closed: bool = False) -> Take | Wait:
    """The batching decision for a non-empty queue of jobs of ``sizes`` frames, ``waited``
    seconds after the first one was seen: take jobs in order while they fit in
    ``max_batch`` (always at least one, so a large job is split, never delayed) once the
    queue holds ``max_batch`` frames, ``max_delay`` has passed, or the batcher closes."""
    if not sizes:
        raise ValueError("plan needs at least one queued job")
    left = max_delay - waited
    if sum(sizes) < max_batch and left > 0 and not closed:
        return Wait(left)
    n = frames = 0
    for size in sizes:
        if n and frames + size > max_batch:
            break
        n += 1
        frames += size
    return Take(n)


class MicroBatcher:
    def __init__(self, predict: Predict, *, max_batch: int = 64, max_delay: float = 0.005,
                 on_batch: Callable[[int, float], None] | None = None,
                 name: str = "batcher") -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._predict = predict
        #: The predict of the batch being run (captured once per batch: a ``swap`` lands
        #: between batches); ``done`` callbacks, called in this thread, read it.
        self.running: Predict = predict
        self.max_batch = max_batch
        self.max_delay = max_delay
        self._on_batch = on_batch
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._busy = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> MicroBatcher:
        self._thread.start()
        return self

    def swap(self, predict: Predict) -> None:
        """Run the next batch, and every one after it, on ``predict``."""
        self._predict = predict

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closed:
                raise BatcherClosed("batcher is closed")
            self._queue.append(job)
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet completed."""
        with self._cond:
            return len(self._queue) + self._busy

    def close(self, timeout: float | None = None) -> bool:
        """Stop accepting jobs, finish the queued ones; True if all finished in time."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread -------------------------------------------------------------
    def _collect(self) -> list[Job] | None:
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            first_seen = time.monotonic()
            while True:
                step = plan([j.size for j in self._queue], time.monotonic() - first_seen,
                            max_batch=self.max_batch, max_delay=self.max_delay,
                            closed=self._closed)
                if isinstance(step, Take):
                    break
                self._cond.wait(step.seconds)
            jobs = [self._queue.popleft() for _ in range(step.jobs)]
            self._busy = len(jobs)
            return jobs

    def _run(self) -> None:
        while True:
            jobs = self._collect()
            if jobs is None:
                return
            try:
                self._run_jobs(jobs)
            finally:
                with self._cond:
                    self._busy = 0

    def _infer(self, pixels: np.ndarray, predict: Predict) -> np.ndarray:
        outs = []
        for start in range(0, pixels.shape[0], self.max_batch):
            chunk = pixels[start : start + self.max_batch]
            t0 = time.perf_counter()
            out = np.asarray(predict(chunk))
            if self._on_batch is not None:
                self._on_batch(int(chunk.shape[0]), time.perf_counter() - t0)
            if out.ndim != 2 or out.shape[0] != chunk.shape[0]:
                raise ValueError(f"model returned shape {out.shape} for {chunk.shape[0]} frames")
            outs.append(out)
        return np.concatenate(outs)

    def _run_jobs(self, jobs: list[Job]) -> None:
        predict = self.running = self._predict  # one model for the whole batch
        with_frames = [j for j in jobs if j.size]
        for job in jobs:
            if not job.size:
                _call(job, None, None)
        if not with_frames:
            return
        try:
            probs = self._infer(np.concatenate([j.pixels for j in with_frames]), predict)
        except Exception as exc:
            if len(with_frames) == 1:
                _call(with_frames[0], None, exc)
                return
            for job in with_frames:  # isolate: retry each job alone
                try:
                    out = self._infer(job.pixels, predict)  # type: ignore[arg-type]
                except Exception as one_exc:
                    _call(job, None, one_exc)
                else:
                    _call(job, out, None)
            return
        row = 0
        for job in with_frames:
            _call(job, probs[row : row + job.size], None)
            row += job.size


def _call(job: Job, probs: np.ndarray | None, error: BaseException | None) -> None:
    try:
        job.done(probs, error)
    except Exception:  # a completion callback must not kill the batcher thread
        import logging

        logging.getLogger(__name__).exception("batch completion callback failed")
