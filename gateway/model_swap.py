"""Swapping the edge model at run time without dropping a frame.

The trigger is the configured ``[edge] model`` file itself: the housekeeping thread
looks at its size and mtime every :data:`WATCH_S` seconds and, when they change and the
content's sha256 differs from the running model's, calls ``Gateway.swap_edge_model``.
Replacing the file (best by an atomic rename, ``mv new.tflite edge.tflite``) is all a
field user does; it works under systemd, in a container with a mounted volume and over
``scp`` alike, where a signal needs a shell on the process's host.

A swap loads the new file and checks it fully *before* switching: the model must load,
take the same input shape as the running one (frames in the queue were converted for
it; a model with another input needs a restart) and classify a self-test input into
finite probabilities. A file that fails keeps the old model, is logged once (per
content) and counted (``edge_model_swaps_total{outcome="refused"}``). Then the switch is
one attribute assignment. The batcher captures the model once per batch
(:func:`run_batch`), so a batch already running finishes on the model it started with
and its answers name that model's id and version (:class:`Stamped`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from .edge import EdgeAnswer, EdgeModel, TFLiteEdgeModel

if TYPE_CHECKING:
    from .config import GatewayConfig
    from .effects import FrameJob
    from .service import Gateway

log = logging.getLogger("edgecascade.gateway")

#: Seconds between looks at the configured model file (one ``stat``; sha256 on change).
WATCH_S = 2.0


@dataclass(frozen=True)
class Stamped:
    """One edge answer and the model that computed it."""

    answer: EdgeAnswer
    model_id: str
    model_version: int


@dataclass(frozen=True)
class FileMark:
    size: int
    mtime_ns: int


def file_mark(path: str) -> FileMark | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileMark(st.st_size, st.st_mtime_ns)


def load_edge(cfg: GatewayConfig, path: str) -> TFLiteEdgeModel:
    """The edge model at ``path`` with the configured runtime, threads and temperature."""
    return TFLiteEdgeModel(path, temperature=cfg.thresholds.edge_temperature,
                           settings=cfg.edge.runtime_settings(cfg.storage.state_dir))


def run_batch(model: EdgeModel, jobs: Sequence[FrameJob]) -> list[Stamped]:
    """Classify one batch on ``model`` (captured by the caller once) and stamp each answer."""
    answers = model.classify(np.stack([cast(np.ndarray, j.pixels) for j in jobs
                                       if j.pixels is not None]))
    return [Stamped(a, model.model_id, model.model_version) for a in answers]


def check_replacement(running: EdgeModel | None, new: EdgeModel) -> str | None:
    """Why ``new`` cannot replace ``running``, or None when it can."""
    if running is not None and tuple(new.input_shape) != tuple(running.input_shape):
        return (f"input shape {tuple(new.input_shape)} differs from the running model's "
                f"{tuple(running.input_shape)} (restart the gateway to change the input)")
    try:
        answers = new.classify(np.zeros((1, *new.input_shape), dtype=np.float32))
    except Exception as exc:  # any failure of the self-test refuses the model
        return f"self-test failed: {str(exc)[:200]}"
    if len(answers) != 1 or not (0.0 <= answers[0].confidence <= 1.0):
        return f"self-test gave unusable output: {answers!r}"[:200]
    return None


class EdgeSwapper:
    """Loads, checks and switches the gateway's edge model; watches the configured file."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self._lock = threading.Lock()  # one swap at a time
        self._mark: FileMark | None = None
        self._digest: str | None = None  # content of the running model, when from a file
        self._refused: str | None = None  # content last refused (logged once)
        self._next = 0.0
        self._watching = False  # only a model the gateway loaded from [edge] model

    def load_configured(self) -> TFLiteEdgeModel | None:
        """The ``[edge] model`` at start (None when none is configured); from now on its
        file is watched."""
        from edgecascade.models.registry import sha256_file

        path = self.gw.cfg.edge.model
        if not path:
            return None
        self._mark = file_mark(path)
        self._digest = sha256_file(path)
        self._watching = True
        return load_edge(self.gw.cfg, path)

    def swap(self, path: str) -> bool:
        """Switch to the model at ``path`` if it loads and passes the checks."""
        from edgecascade.models.registry import sha256_file

        with self._lock:
            gw = self.gw
            try:
                digest = sha256_file(path)
            except OSError as exc:
                return self._refuse(path, None, f"cannot read: {exc}")
            try:
                new = load_edge(gw.cfg, path)
            except Exception as exc:  # ModelError, a runtime's ValueError...
                return self._refuse(path, digest, str(getattr(exc, "problem", exc)))
            why = check_replacement(gw.edge, new)
            if why is not None:
                return self._refuse(path, digest, why)
            old = gw.edge
            gw.edge = new  # the switch: the next batch runs on it
            self._digest, self._refused = digest, None
            gw.metrics.inc("edge_model_swaps", outcome="ok")
            gw.metrics.set_backend(new.info.to_json())
            log.info("edge model swapped", extra={
                "path": path, "model_id": new.model_id, "model_version": new.model_version,
                "was": f"{old.model_id} v{old.model_version}" if old else None,
                "backend": new.info.describe()})
            return True

    def _refuse(self, path: str, digest: str | None, why: str) -> bool:
        self.gw.metrics.inc("edge_model_swaps", outcome="refused")
        key = digest or why
        if key != self._refused:
            self._refused = key
            running = self.gw.edge
            log.error("edge model swap refused; keeping the running model", extra={
                "path": path, "why": why,
                "running": f"{running.model_id} v{running.model_version}" if running else None})
        return False

    def poll(self) -> None:
        """Housekeeping: swap when the configured model file's content has changed."""
        path = self.gw.cfg.edge.model
        now = time.monotonic()
        if not (path and self._watching) or now < self._next:
            return
        self._next = now + WATCH_S
        mark = file_mark(path)
        if mark is None or mark == self._mark:
            return
        from edgecascade.models.registry import sha256_file

        self._mark = mark
        try:
            digest = sha256_file(path)
        except OSError:
            return  # gone between stat and read: the next look sees what replaced it
        if digest != self._digest and digest != self._refused:
            self.swap(path)
