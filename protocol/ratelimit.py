"""Publish-rate limiting: at most ``limit`` events in any ``window`` seconds.

AWS IoT Core allows 100 publishes per second per connection. A token bucket with a
burst lets up to ``burst + rate`` through in some one-second windows; this sliding
window is exact (never more than ``limit`` in *any* window) and still lets a burst
of ``limit`` go out at once. Memory: ``limit`` timestamps.

:class:`SlidingWindow` is pure (time passed in, nothing sleeps). It sits beside
``limits.py`` (``MAX_PUBLISH_PER_SECOND``) because it is how both tiers keep that limit:
the gateway paces cloud publishes with it (``gateway/pacing.py``), the worker wraps it in
the sleeping, thread-safe ``edgecascade.cloud.ratelimit.RateLimiter``.

**The margin.** The window counts publish *calls*; the quota is counted where the
messages arrive, and delivery times vary (the client's socket writes, the broker's
fan-out, a busy CPU). A window of exactly 1 s over the calls let a subscriber on a real
mosquitto count up to 104 in one second at a quota of 100. :func:`quota_window` therefore
spreads ``limit`` publishes over ``1 s + DELIVERY_GUARD_S``: any one-second window as a
receiver sees it holds at most ``limit`` as long as the delivery delays of the publishes
in it differ by no more than the guard (0.1 s; the sustained rate is ``limit / 1.1``,
91 publishes/s at AWS's 100).
"""

from __future__ import annotations

from collections import deque

from .limits import MAX_PUBLISH_PER_SECOND

DELIVERY_GUARD_S = 0.1
"""Seconds added to the one-second quota window to absorb delivery-time jitter."""


class SlidingWindow:
    """``take(now)`` returns 0.0 and records an event when one is allowed, otherwise the
    seconds until one will be (recording nothing)."""

    def __init__(self, limit: int = MAX_PUBLISH_PER_SECOND, window: float = 1.0) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if not window > 0:
            raise ValueError("window must be positive")
        self.limit = limit
        self.window = window
        self._stamps: deque[float] = deque()

    def peek(self, now: float) -> float:
        """Seconds until one more event is allowed (0.0: now), recording nothing."""
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        if len(self._stamps) < self.limit:
            return 0.0
        return max(self._stamps[0] + self.window - now, 1e-6)

    def take(self, now: float) -> float:
        wait = self.peek(now)
        if wait == 0.0:
            self._stamps.append(now)
        return wait


def quota_window(limit: int = MAX_PUBLISH_PER_SECOND, window: float = 1.0,
                 guard: float = DELIVERY_GUARD_S) -> SlidingWindow:
    """At most ``limit`` publishes in any ``window + guard`` seconds of publish calls, so
    that a receiver counting ``window`` seconds never sees more than ``limit``."""
    if guard < 0:
        raise ValueError("guard must be >= 0")
    return SlidingWindow(limit, window + guard)
