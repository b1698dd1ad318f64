"""Claim-check seam: where frames too large for an inline cloud request are put.

Both tiers meet here. The gateway only needs ``put(key, data) -> ref`` (:class:`FrameStore`),
the ref travelling as ``CloudItem.frame_ref``; the worker fetches the ref. The S3
implementation is ``edgecascade.cloud.claimcheck.S3FrameStore``. By default the gateway has
no store and an oversized frame is answered locally (counted).

Keys are deterministic per frame (:func:`frame_key`), so a retried put overwrites rather
than duplicates. Every store failure is a :class:`ClaimCheckError` (``ref``, ``why``,
``transient``): ``transient`` is true when retrying later may succeed (network,
throttling, 5xx), false for a missing object, a foreign ref or an oversized object.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Protocol

from edgecascade.errors import EdgecascadeError

from .limits import MAX_REF_LENGTH
from .topics import validate_id

__all__ = ["MAX_REF_LENGTH", "ClaimCheckError", "FrameStore", "frame_key"]


class ClaimCheckError(EdgecascadeError):
    """A claim-check put or get failed; ``transient`` says whether a retry may help."""

    def __init__(self, ref: str, why: str, *, transient: bool = False) -> None:
        self.ref = ref
        self.why = why
        self.transient = transient
        super().__init__(f"{ref}: {why}")

    @property
    def reason(self) -> str:
        """Bounded metrics label."""
        return "claimcheck:transient" if self.transient else "claimcheck:permanent"


class FrameStore(Protocol):
    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key``; return the reference a worker can fetch it by."""
        ...


def frame_key(gateway_id: str, device_id: str, epoch: int, seq: int) -> str:
    """The object key (below the store's prefix) for one frame: one place for the layout."""
    validate_id(gateway_id, "gateway_id")
    validate_id(device_id, "device_id")
    return f"{gateway_id}/{device_id}/{int(epoch)}/{int(seq)}"
