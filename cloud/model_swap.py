"""Swapping the cloud model at run time without dropping a request.

The trigger is the ``[model] path`` file itself (as on the gateway, ``gateway/model_swap``):
a watcher thread looks at its size and mtime every :data:`WATCH_S` seconds and, when
they change and the content's sha256 differs from the running model's, calls
``CloudWorker.swap_model``. Replacing the file (best by an atomic rename) is all an
operator does, on a host, in a container or on a mounted volume alike.

A swap loads the new file and checks it fully *before* switching: it must load, take the
same input shape as the running model (requests in the queue were converted for it) and
turn a self-test input into one row of finite probabilities. A file that fails keeps the
running model, is logged once (per content) and counted
(``ec_cloud_model_swaps_total{outcome="refused"}``). The switch hands the batcher a new
:class:`Running`; the batcher captures it once per batch (``MicroBatcher.running``), so
a batch already running finishes on its model and each response names the model that
computed it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .model import Classifier, classifier_loader

if TYPE_CHECKING:
    from .worker import CloudWorker

log = logging.getLogger("edgecascade.cloud.worker")

#: Seconds between looks at the model file (one ``stat``; sha256 on change).
WATCH_S = 2.0


@dataclass(frozen=True)
class Running:
    """A classifier as the batcher's predict, carrying the identity its rows are named by."""

    classifier: Classifier

    @property
    def model_id(self) -> str:
        return self.classifier.model_id

    @property
    def model_version(self) -> int:
        return self.classifier.model_version

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.classifier.predict(pixels)


def ran_on(predict: object) -> tuple[str, int] | None:
    """``(model id, version)`` of the batcher's running predict, when it says."""
    if isinstance(predict, Running):
        return predict.model_id, predict.model_version
    return None


def input_shape(c: Classifier) -> tuple[int, ...] | None:
    runner = getattr(c, "runner", None)
    shape = getattr(runner, "input_shape", None)
    return tuple(shape) if shape is not None else None


def check_replacement(running: Classifier, new: Classifier) -> str | None:
    """Why ``new`` cannot replace ``running``, or None when it can."""
    shape = input_shape(new)
    if shape is None:
        return "the model does not say its input shape"
    if shape != input_shape(running):
        return (f"input shape {shape} differs from the running model's {input_shape(running)}"
                " (restart the worker to change the input)")
    try:
        probs = np.asarray(new.predict(np.zeros((1, *shape), dtype=np.float32)))
    except Exception as exc:  # any failure of the self-test refuses the model
        return f"self-test failed: {str(exc)[:200]}"
    if probs.ndim != 2 or probs.shape[0] != 1 or not np.all(np.isfinite(probs)):
        return f"self-test gave unusable output of shape {probs.shape}"
    return None


def _mark(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class ModelSwapper:
    """Loads and checks a replacement; ``apply`` switches to it. Watches ``path``."""

    def __init__(self, path: str, num_threads: int, running: Classifier,
                 apply: Callable[[Classifier], None], count: Callable[[str], None],
                 load: Callable[[str, int], Classifier]) -> None:
        from edgecascade.models.registry import sha256_file

        self.path, self.num_threads, self.running = path, num_threads, running
        self._apply, self._count, self._load = apply, count, load
        self._lock = threading.Lock()
        self._mark = _mark(path) if path else None
        self._digest = sha256_file(path) if self._mark else None
        self._refused: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="model-watch")

    def start(self) -> None:
        if self.path:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def swap(self, path: str) -> bool:
        from edgecascade.models.registry import sha256_file

        with self._lock:
            try:
                digest = sha256_file(path)
            except OSError as exc:
                return self._refuse(path, f"cannot read: {exc}", f"cannot read: {exc}")
            try:
                new = self._load(path, self.num_threads)
            except Exception as exc:  # ModelError, a runtime's ValueError...
                return self._refuse(path, digest, str(getattr(exc, "problem", exc)))
            why = check_replacement(self.running, new)
            if why is not None:
                return self._refuse(path, digest, why)
            old, self.running = self.running, new
            self._apply(new)
            self._digest, self._refused = digest, None
            self._count("ok")
            log.info("cloud model swapped", extra={
                "path": path, "model_id": new.model_id, "model_version": new.model_version,
                "was": f"{old.model_id} v{old.model_version}"})
            return True

    def _refuse(self, path: str, key: str, why: str) -> bool:
        self._count("refused")
        if key != self._refused:
            self._refused = key
            log.error("cloud model swap refused; keeping the running model", extra={
                "path": path, "why": why,
                "running": f"{self.running.model_id} v{self.running.model_version}"})
        return False

    def _watch(self) -> None:
        from edgecascade.models.registry import sha256_file

        while not self._stop.wait(WATCH_S):
            mark = _mark(self.path)
            if mark is None or mark == self._mark:
                continue
            self._mark = mark
            try:
                digest = sha256_file(self.path)
                if digest not in (self._digest, self._refused):
                    self.swap(self.path)
            except Exception:  # the watcher must outlive one bad look
                log.exception("model watch failed")


def worker_swapper(w: CloudWorker) -> ModelSwapper:
    """The worker's swapper. A switch replaces the classifier (frames to pixels), the
    core's settings (error responses, the state message) and the batcher's predict (from
    the next batch on)."""
    def apply(new: Classifier) -> None:
        with w._lock:
            w.classifier = new
            info = getattr(new, "info", None)
            if info is not None:
                w.metrics.set_backend(info.to_json())
            w.core.settings = replace(w.core.settings, model_id=new.model_id,
                                      model_version=new.model_version)
        w._batcher.swap(Running(new))

    return ModelSwapper(w.config.model.path, w.config.model.num_threads, w.classifier, apply,
                        lambda outcome: w.metrics.model_swaps.labels(outcome).inc(),
                        classifier_loader(w.config.model))
