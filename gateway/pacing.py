"""Pure rate and spend accounting, time passed in.

* :class:`Pacer`: a token bucket keeping publishes under AWS IoT Core's per-connection
  quota (100 publishes/s).
* :class:`BudgetMeter`: billed cloud messages spent in a rolling window, for the policy's
  budget rule.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Pacer:
    rate: float  # publishes per second
    burst: float = 1.0
    _tokens: float = field(default=-1.0)
    _at: float = 0.0

    def wait_s(self, now: float) -> float:
        """Seconds until one publish is allowed (0 when allowed now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0

    def _refill(self, now: float) -> None:
        if self._tokens < 0 and self._at == 0.0:
            self._tokens, self._at = self.burst, now
            return
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now


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
