"""A token bucket: the pure core of every publish-rate limit (AWS IoT Core: 100/s per connection).

Pure: time comes in as an argument, nothing sleeps. :class:`RateLimiter` is the thin,
thread-safe shell that sleeps until a token is free; the gateway and the cloud worker
both wrap their MQTT publishes in one per connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgecascade.protocol.limits import MAX_PUBLISH_PER_SECOND


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full.

    ``take(now)`` returns 0.0 and spends a token when one is free, otherwise the
    seconds to wait before one will be (and spends nothing).
    """

    rate: float = float(MAX_PUBLISH_PER_SECOND)
    burst: float = float(MAX_PUBLISH_PER_SECOND)
    tokens: float = field(default=-1.0)
    stamp: float | None = None

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError("rate must be positive")
        if not self.burst >= 1:
            raise ValueError("burst must be at least 1")
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.stamp is not None and now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        if self.stamp is None or now > self.stamp:
            self.stamp = now

    def take(self, now: float, cost: float = 1.0) -> float:
        if cost > self.burst:
            raise ValueError(f"cost {cost} exceeds burst {self.burst}")
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


class RateLimiter:
    """Blocks the caller until the bucket allows one more event. Thread-safe.

    ``waited_seconds`` and ``waits`` say how much limiting happened (for metrics).
    """

    def __init__(
        self,
        rate: float = float(MAX_PUBLISH_PER_SECOND),
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bucket = TokenBucket(rate=rate, burst=burst if burst is not None else rate)
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.waits = 0
        self.waited_seconds = 0.0

    def acquire(self) -> float:
        """Wait for a token; return the seconds spent waiting."""
        waited = 0.0
        with self._lock:  # one caller at a time keeps the order fair (FIFO by lock)
            while True:
                delay = self._bucket.take(self._clock())
                if delay <= 0.0:
                    break
                self._sleep(delay)
                waited += delay
            if waited:
                self.waits += 1
                self.waited_seconds += waited
        return waited
