"""The cloud worker's publish limiter: a thin thread-safe shell that sleeps until the
pure :class:`~edgecascade.protocol.ratelimit.SlidingWindow` allows one more publish.

The worker wraps every publish of its connection in one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edgecascade.protocol.limits import MAX_PUBLISH_PER_SECOND
from edgecascade.protocol.ratelimit import SlidingWindow


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
