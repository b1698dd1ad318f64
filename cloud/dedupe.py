"""Idempotency for at-least-once delivery: a bounded LRU of answered requests.

Key: (gateway id, correlation id); value: the encoded response exactly as first
published. A redelivered request found here is answered with those same bytes,
so a gateway can never receive two different answers for one request from one
worker. Eviction is least-recently-used at ``capacity`` entries (``capacity`` 0
disables the cache); after eviction, or on another worker, the request is
recomputed, and since the model is deterministic for a given frame the answer
differs only in ``worker_id``, ``worker_ms`` and ``ts_ms`` (see ``core.py``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

Key = tuple[str, str]


class ResponseCache:
    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity cannot be negative")
        self.capacity = capacity
        self._items: OrderedDict[Key, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, key: Key) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Key, value: bytes) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
                self.evictions += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
