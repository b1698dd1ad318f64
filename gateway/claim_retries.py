"""Frames waiting for another claim-check put after a transient error. Pure: time passed in.

:class:`~.cloud_client.CloudClient` offers each failed put here (under its lock) and,
on its sender thread, takes the due ones and tries the put again: at most
:data:`CLAIM_RETRY_ATTEMPTS` puts per frame, :data:`CLAIM_RETRY_MAX` frames waiting at
once, the ``n``-th retry ``n * retry_s`` seconds after the ``n``-th failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgecascade.protocol import Frame

from .spool import Key

CLAIM_RETRY_ATTEMPTS = 5  # claim-check puts tried per frame after a transient error
CLAIM_RETRY_MAX = 256  # frames waiting for a claim-check retry at once


@dataclass(frozen=True)
class ClaimRetry:
    key: Key
    frame: Frame
    value: float
    attempts: int
    due: float


class ClaimRetries:
    """Not thread-safe: the caller holds its lock."""

    def __init__(self, retry_s: float, *, attempts: int = CLAIM_RETRY_ATTEMPTS,
                 capacity: int = CLAIM_RETRY_MAX) -> None:
        self.retry_s = retry_s
        self.attempts = attempts
        self.capacity = capacity
        self._items: list[ClaimRetry] = []

    def offer(self, key: Key, frame: Frame, value: float, *, attempts: int, transient: bool,
              now: float) -> bool:
        """Keep a frame whose ``attempts``-th put failed; False when it will not be retried
        (a permanent error, out of attempts, or too many frames waiting already)."""
        retry = transient and attempts < self.attempts and len(self._items) < self.capacity
        if retry:
            self._items.append(ClaimRetry(key, frame, value, attempts,
                                          now + self.retry_s * attempts))
        return retry

    def take_due(self, now: float) -> list[ClaimRetry]:
        due = [r for r in self._items if r.due <= now]
        self._items = [r for r in self._items if r.due > now]
        return due

    def next_due(self) -> float | None:
        return min((r.due for r in self._items), default=None)

    def __len__(self) -> int:
        return len(self._items)
