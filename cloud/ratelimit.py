"""Publish-rate limiting: at most ``limit`` events in any ``window`` seconds.

AWS IoT Core allows 100 publishes per second per connection. A token bucket with a
burst lets up to ``burst + rate`` through in some one-second windows; this sliding
window is exact (never more than ``limit`` in *any* window) and still lets a burst
of ``limit`` go out at once. Memory: ``limit`` timestamps.

:class:`SlidingWindow` is the pure core (time passed in, nothing sleeps);
:class:`RateLimiter` is the thin thread-safe shell that sleeps until a slot is free.
The cloud worker wraps every publish of its connection in one; the gateway can too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from edgecascade.protocol.limits import MAX_PUBLISH_PER_SECOND


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


class RateLimiter:
    """Blocks the caller until the window allows one more event. Thread-safe, FIFO by lock.

    ``waits`` and ``waited_seconds`` say how much limiting happened (for metrics).
    """

    def __init__(self, limit: int = MAX_PUBLISH_PER_SECOND, window: float = 1.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._window = SlidingWindow(limit, window)
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.waits = 0
        self.waited_seconds = 0.0

    def acquire(self) -> float:
        """Wait for a slot; return the seconds spent waiting."""
        waited = 0.0
        with self._lock:
            while True:
                delay = self._window.take(self._clock())
                if delay <= 0.0:
                    break
                self._sleep(delay)
                waited += delay
            if waited:
                self.waits += 1
                self.waited_seconds += waited
        return waited
