"""The worker's pure core: request items in, response envelope out. No I/O.

Answer contract (what a gateway can rely on):

* one :class:`CloudResponse` per request, ``items`` in the request's order, one
  :class:`CloudAnswer` per item;
* ``status="ok"`` when the model ran: each item carries a label and confidence, or
  its own ``error`` (bad frame, claim-check object missing or unreachable);
* ``status="error"`` with ``error`` set and no items when the request as a whole
  could not be answered (the model failed, the worker is overloaded or shutting down,
  the request named another gateway than its topic);
* label is the argmax of the model's probabilities (first on ties), confidence that
  probability clipped to 0..1: a pure function of the frame bytes and the model, so a
  recomputed answer equals the first one except ``worker_id``, ``worker_ms`` and
  ``ts_ms`` (the timing/identity fields).

A response is *cacheable* (may be replayed byte-for-byte on redelivery) only when
no part of it came from a transient failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgecascade.protocol import CloudAnswer, CloudItem, CloudRequest, CloudResponse
from edgecascade.protocol.limits import MAX_TEXT_LENGTH


def clip_text(text: str) -> str:
    text = text.strip() or "error"
    return text if len(text) <= MAX_TEXT_LENGTH else text[: MAX_TEXT_LENGTH - 1] + "…"


@dataclass(frozen=True)
class ItemInput:
    """One item ready for the model (``pixels``) or already failed (``error``)."""

    device_id: str
    epoch: int
    seq: int
    pixels: np.ndarray | None = None
    error: str | None = None
    transient: bool = False

    @classmethod
    def ok(cls, item: CloudItem, pixels: np.ndarray) -> ItemInput:
        return cls(item.device_id, item.epoch, item.seq, pixels=pixels)

    @classmethod
    def failed(cls, item: CloudItem, why: str, transient: bool = False) -> ItemInput:
        return cls(item.device_id, item.epoch, item.seq, error=clip_text(why), transient=transient)


def stack_pixels(inputs: Sequence[ItemInput]) -> np.ndarray | None:
    """The model batch for the items that have pixels, or None when none has."""
    arrays = [i.pixels for i in inputs if i.pixels is not None]
    if not arrays:
        return None
    return np.stack(arrays)  # model inputs of any shape and dtype, unchanged


def answers(inputs: Sequence[ItemInput], probs: np.ndarray | None) -> tuple[CloudAnswer, ...]:
    """Zip the model output (one row per item with pixels, in order) back onto all items."""
    n_ok = sum(1 for i in inputs if i.pixels is not None)
    if n_ok and (probs is None or probs.ndim != 2 or probs.shape[0] != n_ok):
        got = None if probs is None else probs.shape
        raise ValueError(f"model returned {got} for {n_ok} frames")
    out: list[CloudAnswer] = []
    row = 0
    for item in inputs:
        if item.pixels is None:
            out.append(CloudAnswer(item.device_id, item.epoch, item.seq,
                                   error=item.error or "no frame"))
            continue
        assert probs is not None
        p = probs[row]
        row += 1
        label = int(np.argmax(p))
        confidence = float(min(max(float(p[label]), 0.0), 1.0))
        out.append(CloudAnswer(item.device_id, item.epoch, item.seq, label=label,
                               confidence=confidence))
    return tuple(out)


def ok_response(request: CloudRequest, *, worker_id: str, model_id: str, model_version: int,
                items: tuple[CloudAnswer, ...], worker_ms: float, ts_ms: int) -> CloudResponse:
    return CloudResponse(
        correlation_id=request.correlation_id, status="ok", worker_id=worker_id,
        model_id=model_id, model_version=model_version, worker_ms=max(0.0, worker_ms),
        ts_ms=ts_ms, items=items, nonce=request.nonce,
    )


def error_response(correlation_id: str, why: str, *, worker_id: str, model_id: str,
                   model_version: int, worker_ms: float, ts_ms: int,
                   nonce: bytes | None = None) -> CloudResponse:
    return CloudResponse(
        correlation_id=correlation_id, status="error", worker_id=worker_id, model_id=model_id,
        model_version=model_version, worker_ms=max(0.0, worker_ms), ts_ms=ts_ms, items=(),
        error=clip_text(why), nonce=nonce,
    )


def cacheable(inputs: Sequence[ItemInput]) -> bool:
    return not any(i.transient for i in inputs)
