"""The cloud worker's publish limiter: a thin thread-safe shell that sleeps until the
pure :class:`~edgecascade.protocol.ratelimit.SlidingWindow` allows one more publish.

The worker wraps every publish of its connection in one. The window is
:func:`~edgecascade.protocol.ratelimit.quota_window`: ``limit`` per ``window + guard``
seconds, the guard being the stated margin for delivery jitter
(``DELIVERY_GUARD_S``, 0.1 s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edgecascade.protocol.limits import MAX_PUBLISH_PER_SECOND
from edgecascade.protocol.ratelimit import DELIVERY_GUARD_S, quota_window


class RateLimiter:
    """Blocks the caller until the window allows one more event. Thread-safe, FIFO by lock.

    ``waits`` and ``waited_seconds`` say how much limiting happened (for metrics).
    """

    def __init__(self, limit: int = MAX_PUBLISH_PER_SECOND, window: float = 1.0, *,
                 guard: float = DELIVERY_GUARD_S,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._window = quota_window(limit, window, guard)
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
