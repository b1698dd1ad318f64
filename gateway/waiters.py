"""The frames waiting for a cloud answer, each with its deadline (pure, no clock).

The book :class:`~.core.FrameCore` keeps of its escalated frames: one :class:`Waiter`
per frame, found by key when the cloud answers, and a heap of deadlines (monotonic
seconds) so a tick finds the expired ones without scanning. A deadline whose frame
was answered meanwhile stays in the heap and is skipped when it comes due.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from edgecascade.protocol import Reason

from .cache import Answer
from .effects import FrameJob
from .frame_state import Key


@dataclass(frozen=True)
class Waiter:
    job: FrameJob
    fallback: Answer
    stale: bool
    sent_at: float
    decided: Reason | None  # the escalation reason of the decision that sent it


@dataclass(order=True)
class _Deadline:
    at: float
    n: int
    key: Key = field(compare=False)


class Waiters:
    """Waiters by frame key, and their deadlines in order. Not thread-safe."""

    def __init__(self) -> None:
        self._by_key: dict[Key, Waiter] = {}
        self._deadlines: list[_Deadline] = []
        self._tick = itertools.count()

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def add(self, waiter: Waiter, at: float) -> None:
        """Wait for the frame's cloud answer until ``at`` (monotonic seconds)."""
        key = waiter.job.key
        self._by_key[key] = waiter
        heapq.heappush(self._deadlines, _Deadline(at, next(self._tick), key))

    def pop(self, key: Key) -> Waiter | None:
        """The frame's waiter, which stops waiting (None when it does not wait)."""
        return self._by_key.pop(key, None)

    def next_deadline(self) -> float | None:
        return self._deadlines[0].at if self._deadlines else None

    def due(self, mono: float) -> list[Waiter]:
        """The waiters whose deadline is at or before ``mono``, in deadline order; they
        stop waiting."""
        out: list[Waiter] = []
        while self._deadlines and self._deadlines[0].at <= mono:
            waiter = self.pop(heapq.heappop(self._deadlines).key)
            if waiter is not None:
                out.append(waiter)
        return out

    def drain(self) -> list[Waiter]:
        """Every waiter (in the order they began waiting); none waits afterwards."""
        out = list(self._by_key.values())
        self._by_key.clear()
        self._deadlines.clear()
        return out
