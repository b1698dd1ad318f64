"""Dynamic batcher: a bounded queue in front of a batch function, run by one worker thread.

``submit(item)`` (or ``submit_many(items)`` for a group at once) never blocks: it
returns False (or how many it took) when the queue is full, and the caller's policy
routes the rest elsewhere. The worker takes the first waiting item, then keeps
collecting until ``max_batch`` items or ``max_delay_s`` after that first item, calls
``run(batch) -> results`` once, and hands the results over: once per batch to
``on_batch(items, results)`` when given, else to ``on_done(item, result, batch_size)``
per item. If ``run`` raises, every item of that batch gets the exception as its result:
nothing is silently dropped.

The hand-off costs per batch, not per item: a submit wakes the worker only when that
changes what it waits for (the queue was empty, or it has just reached ``max_batch``),
and ``submit_many`` takes the lock once. ``max_delay_s = 0`` batches opportunistically
(whatever is waiting, never a wait for more): the right setting for a compute-bound
model, whose per-frame cost batching does not lower (``docs/performance.md``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from edgecascade.models.runners.settings import BatchDefaults

T = TypeVar("T")
R = TypeVar("R")


class DynamicBatcher(Generic[T, R]):
    def __init__(
        self,
        run: Callable[[list[T]], Sequence[R]],
        on_done: Callable[[T, R | BaseException, int], None] | None = None,
        *,
        on_batch: Callable[[list[T], Sequence[R | BaseException]], None] | None = None,
        max_batch: int = 16,
        max_delay_s: float = 0.002,
        capacity: int = 256,
        name: str = "batcher",
    ) -> None:
        if max_batch < 1 or capacity < 1 or max_delay_s < 0:
            raise ValueError("max_batch and capacity must be >= 1, max_delay_s >= 0")
        if (on_done is None) == (on_batch is None):
            raise ValueError("give exactly one of on_done and on_batch")
        self._run = run
        self._on_done = on_done
        self._on_batch = on_batch
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.capacity = capacity
        self._queue: deque[tuple[T, float]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.batches = 0

    def start(self) -> None:
        self._thread.start()

    @property
    def depth(self) -> int:
        """Items waiting plus items being run."""
        with self._cond:
            return len(self._queue) + self._busy

    def submit(self, item: T) -> bool:
        return self.submit_many((item,)) == 1

    def submit_many(self, items: Iterable[T]) -> int:
        """Queue as many of ``items`` as fit, in order; return how many were taken."""
        taken = 0
        with self._cond:
            if self._stopping:
                return 0
            was = len(self._queue)
            now = time.monotonic()
            for item in items:
                if len(self._queue) + self._busy >= self.capacity:
                    break
                self._queue.append((item, now))
                taken += 1
            n = len(self._queue)
            # wake the worker only when it waits for this: a first item, or a full batch
            if taken and (was == 0 or (was < self.max_batch <= n)):
                self._cond.notify()
        return taken

    def stop(self, timeout: float = 30.0) -> None:
        """Finish every queued item, then stop the worker."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _take(self) -> list[T] | None:
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                self._cond.wait()
            first_at = self._queue[0][1]
            while len(self._queue) < self.max_batch and not self._stopping:
                left = first_at + self.max_delay_s - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            n = min(self.max_batch, len(self._queue))
            batch = [self._queue.popleft()[0] for _ in range(n)]
            self._busy = n
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            results: Sequence[R | BaseException]
            try:
                results = self._run(batch)
                if len(results) != len(batch):
                    raise RuntimeError(f"batch of {len(batch)} gave {len(results)} results")
            except Exception as exc:  # the model failed: every item learns why
                results = [exc] * len(batch)
            self.batches += 1
            with self._cond:
                self._busy = 0
            if self._on_batch is not None:
                self._on_batch(batch, results)
                continue
            assert self._on_done is not None
            for item, result in zip(batch, results, strict=True):
                self._on_done(item, result, len(batch))


def edge_threads(cores: int | None = None) -> int:
    """LiteRT threads for the edge model when the config names none: half the cores this
    process may run on, 1..4. The other half runs paho, SQLite and the policy, which cost
    more per report than the model; a second model thread pays only at batch >= 8
    (``gateway_batching`` rows, ``docs/performance.md``). 2 cores: 1; a Pi 4/5: 2."""
    if cores is None:
        import os

        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
    return max(1, min(4, cores // 2))


#: The edge batcher's defaults by where the model runs, when ``[edge]`` names none.
#: CPU: the measured ones (a compute-bound model gains little from batching, so batch
#: what is queued and never wait: ``gateway_batching`` rows, docs/performance.md). GPU:
#: per call overhead dominates there, so batches may grow to 64 (still never waiting:
#: frames queue up while the GPU runs the previous batch); provisional until a GPU run
#: of ``python -m edgecascade.tools.bench.gpu`` picks the best batch (docs/performance.md).
BATCH_DEFAULTS = {"cpu": BatchDefaults(16, 0.0), "gpu": BatchDefaults(64, 0.0)}


def batch_settings(max_batch: int | None, max_delay_ms: float | None,
                   on_gpu: bool) -> BatchDefaults:
    """The configured values, each unset one from :data:`BATCH_DEFAULTS`."""
    return BATCH_DEFAULTS["gpu" if on_gpu else "cpu"].over(max_batch, max_delay_ms)
