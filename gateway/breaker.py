"""Circuit breaker for the cloud link: a pure state machine, time passed in.

CLOSED: requests flow; ``failure_threshold`` consecutive timeouts, or a lost
connection, open it. OPEN: nothing is sent until ``reset_s`` passed, then it is
HALF_OPEN: exactly one probe request may go; its success closes the breaker, its
failure opens it again for another ``reset_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


#: Numeric value exported as a gauge (0 closed, 1 half-open, 2 open).
STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


@dataclass
class CircuitBreaker:
    failure_threshold: int = 3
    reset_s: float = 5.0
    _state: BreakerState = BreakerState.CLOSED
    _failures: int = 0
    _opened_at: float = 0.0
    _probe_out: bool = False
    _link_up: bool = True

    def state(self, now: float) -> BreakerState:
        due = now - self._opened_at >= self.reset_s
        if self._state is BreakerState.OPEN and self._link_up and due:
            self._state = BreakerState.HALF_OPEN
            self._probe_out = False
        return self._state

    def allow(self, now: float) -> bool:
        """May a request be sent now? In HALF_OPEN, true once (the probe)."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_out:
            self._probe_out = True
            return True
        return False

    def unsent(self) -> None:
        """The request ``allow`` admitted was not sent after all (not a failure of the
        cloud): a half-open breaker may send its probe again."""
        if self._state is BreakerState.HALF_OPEN:
            self._probe_out = False

    def on_success(self, now: float) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_out = False

    def on_failure(self, now: float) -> None:
        """A request timed out (or its send failed)."""
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._open(now)

    def on_link_down(self, now: float) -> None:
        """The connection to the cloud broker was lost: open at once; stay open while down."""
        self._link_up = False
        self._open(now)

    def on_link_up(self, now: float) -> None:
        """Connected again: half-open right away so a probe can test the path."""
        self._link_up = True
        if self._state is BreakerState.OPEN:
            self._opened_at = now - self.reset_s

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._probe_out = False
        self._failures = 0
