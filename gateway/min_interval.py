"""At most one update per key per interval, the latest one kept: what Home Assistant
gets per device. Pure (time is an argument).

An update inside the interval replaces the one waiting (one per key: bounded by the
number of devices) and goes out when :meth:`due` is asked after the interval ended, so
the last state of a burst always arrives, late by at most the interval plus the
caller's tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class MinInterval(Generic[T]):
    interval_s: float
    _sent_at: dict[str, float] = field(default_factory=dict)
    _waiting: dict[str, T] = field(default_factory=dict)

    def offer(self, key: str, item: T, now: float) -> T | None:
        """``item`` when it may go out now (then it counts as sent), else None: it
        waits, replacing what waited for ``key``."""
        last = self._sent_at.get(key)
        if last is None or now - last >= self.interval_s:
            self._sent_at[key] = now
            self._waiting.pop(key, None)
            return item
        self._waiting[key] = item
        return None

    def due(self, now: float) -> list[tuple[str, T]]:
        """Waiting items whose interval has ended (they count as sent now)."""
        out = [(k, v) for k, v in self._waiting.items()
               if now - self._sent_at.get(k, 0.0) >= self.interval_s]
        for k, _ in out:
            del self._waiting[k]
            self._sent_at[k] = now
        return out

    def forget(self, key: str) -> None:
        self._sent_at.pop(key, None)
        self._waiting.pop(key, None)

    @property
    def waiting(self) -> int:
        return len(self._waiting)
