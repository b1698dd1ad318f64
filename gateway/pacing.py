"""Pure rate and spend accounting, time passed in.

* :func:`publish_window`: keeps publishes under AWS IoT Core's per-connection quota
  (``protocol.limits.MAX_PUBLISH_PER_SECOND``) with the exact sliding window of
  ``protocol/ratelimit.py`` that the cloud worker uses too.
* :class:`BudgetMeter`: billed cloud messages spent in a rolling window, for the policy's
  budget rule.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from edgecascade.protocol.ratelimit import SlidingWindow, quota_window


def publish_window(rate: float) -> SlidingWindow:
    """AWS IoT Core's per-connection publish quota as an exact sliding window.

    The same limiter the cloud worker uses (``protocol/ratelimit.py``): never more than
    ``rate`` publishes in any one-second window (a token bucket with a burst lets
    ``rate + burst`` through in some windows, over the quota). The window carries the
    same delivery-jitter guard as the worker's (``DELIVERY_GUARD_S``), so a receiver
    counting one-second windows does not see more than ``rate``.
    """
    if not rate > 0:
        raise ValueError("rate must be positive")
    limit = max(1, round(rate))
    return quota_window(limit, limit / rate)


@dataclass
class BudgetMeter:
    window_s: float
    _events: deque[tuple[float, float]] = field(default_factory=deque)
    _sum: float = 0.0
    total: float = 0.0

    def add(self, now: float, billed: float) -> None:
        self._events.append((now, billed))
        self._sum += billed
        self.total += billed

    def spent(self, now: float) -> float:
        while self._events and self._events[0][0] <= now - self.window_s:
            self._sum -= self._events.popleft()[1]
        return max(0.0, self._sum)
