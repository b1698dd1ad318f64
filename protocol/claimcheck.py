"""Claim-check seam: where frames too large for an inline cloud request are put.

The cloud side implements it over S3 (``edgecascade.cloud.claimcheck``); the gateway
only needs ``put(key, data) -> ref``, the ref travelling as ``CloudItem.frame_ref``.
By default there is no store and an oversized frame is answered locally (counted).
"""

from __future__ import annotations

from typing import Protocol


class FrameStore(Protocol):
    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key``; return the reference a worker can fetch it by."""
        ...
