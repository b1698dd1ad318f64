"""Preparing a request's items for the model: claim-check refs fetched, frames to pixels.

One item in, one :class:`~.core.ItemInput` out: the pixels the model takes, or the
item's own error (claim-check not configured, object missing or unreachable, bad frame),
each counted in ``ec_cloud_errors_total`` by reason. The worker runs this on the network
thread, or on its fetch pool when a request carries claim-check refs.
"""

from __future__ import annotations

from typing import Protocol

from edgecascade.protocol import CloudItem, Frame

from . import core
from .claimcheck import ClaimCheckError
from .metrics import WorkerMetrics
from .model import Classifier, InputError

__all__ = ["FrameFetcher", "prepare_item"]


class FrameFetcher(Protocol):
    def get_frame(self, ref: str) -> Frame: ...


def prepare_item(item: CloudItem, classifier: Classifier, store: FrameFetcher | None,
                 metrics: WorkerMetrics) -> core.ItemInput:
    """The model input of one item (its frame inline or fetched from ``store``)."""
    frame = item.frame
    if frame is None:
        if store is None:
            metrics.errors.labels("claimcheck:unconfigured").inc()
            return core.ItemInput.failed(item, "claim-check not configured on this worker",
                                         transient=True)
        try:
            frame = store.get_frame(item.frame_ref or "")
        except ClaimCheckError as exc:
            metrics.errors.labels(exc.reason).inc()
            return core.ItemInput.failed(item, f"claim-check: {exc.why}",
                                         transient=exc.transient)
    try:
        return core.ItemInput.ok(item, classifier.to_pixels(frame))
    except InputError as exc:
        metrics.errors.labels("frame:input").inc()
        return core.ItemInput.failed(item, f"bad frame: {exc}")
