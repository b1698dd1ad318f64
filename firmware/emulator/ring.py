"""Python twin of ``firmware/core/ec_ring.c``: the bounded store of encoded reports a
device keeps while its broker is unreachable.

Same limits (``max_slots`` reports and ``pool_bytes`` bytes), same eviction order and
same counters as the C ring:

1. the oldest stored report WITHOUT a frame is evicted, repeatedly;
2. only when none is left, the oldest report WITH a frame;
3. a new frame-less report never evicts a frame: when removing every stored frame-less
   report would still not make room, the new report itself is dropped;
4. a report larger than the whole pool is refused (``oversize``).

Drain order is FIFO (:meth:`ReportRing.peek` / :meth:`ReportRing.pop`). Defaults are
the ESP32 app's (``CONFIG_EC_RING_SLOTS`` / ``CONFIG_EC_RING_POOL_BYTES``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

#: The firmware's defaults (firmware/esp32/main/Kconfig.projbuild).
DEFAULT_SLOTS = 64
DEFAULT_POOL_BYTES = 32 * 1024


@dataclass
class RingStats:
    dropped_plain: int = 0  # frame-less reports evicted or refused
    dropped_frame: int = 0  # reports with a frame evicted
    oversize: int = 0  # reports larger than the pool, refused

    @property
    def total(self) -> int:
        return self.dropped_plain + self.dropped_frame + self.oversize


class ReportRing:
    """Bounded FIFO of ``(payload, has_frame)``; see the module docstring for the rules."""

    def __init__(self, max_slots: int = DEFAULT_SLOTS, pool_bytes: int = DEFAULT_POOL_BYTES):
        if max_slots < 1 or pool_bytes < 1:
            raise ValueError("max_slots and pool_bytes must be >= 1")
        self.max_slots = max_slots
        self.pool_bytes = pool_bytes
        self.stats = RingStats()
        self._items: deque[tuple[bytes, bool]] = deque()
        self._used = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def used_bytes(self) -> int:
        return self._used

    @property
    def dropped(self) -> int:
        """Every report lost so far, of every kind."""
        return self.stats.total

    def _full_for(self, size: int) -> bool:
        return len(self._items) >= self.max_slots or self.pool_bytes - self._used < size

    def _remove(self, index: int) -> None:
        payload, _ = self._items[index]
        del self._items[index]
        self._used -= len(payload)

    def push(self, payload: bytes, has_frame: bool) -> int:
        """Store one report; returns how many reports this push dropped (maybe itself)."""
        size = len(payload)
        if size > self.pool_bytes:
            self.stats.oversize += 1
            return 1
        if not has_frame:
            frames = [p for p, f in self._items if f]
            if len(frames) >= self.max_slots or self.pool_bytes - sum(map(len, frames)) < size:
                self.stats.dropped_plain += 1
                return 1
        dropped = 0
        while self._full_for(size):
            victim = next((i for i, (_, f) in enumerate(self._items) if not f), None)
            if victim is None:
                victim = 0
                self.stats.dropped_frame += 1
            else:
                self.stats.dropped_plain += 1
            self._remove(victim)
            dropped += 1
        self._items.append((bytes(payload), bool(has_frame)))
        self._used += size
        return dropped

    def peek(self) -> tuple[bytes, bool] | None:
        """The oldest ``(payload, has_frame)``, or None when empty."""
        return self._items[0] if self._items else None

    def pop(self) -> bytes | None:
        """Remove and return the oldest payload, or None when empty."""
        if not self._items:
            return None
        payload, _ = self._items[0]
        self._remove(0)
        return payload

    def snapshot(self) -> list[tuple[bytes, bool]]:
        """The stored reports, oldest first (for tests and status pages)."""
        return list(self._items)
