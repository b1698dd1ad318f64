"""Store-and-forward spool (SQLite, WAL, bounded by bytes): frames still owed to the cloud.

Every escalation is written here before it is sent, and removed only when the cloud
answered it, so a lost link or a SIGKILL loses nothing: items are replayed in arrival
order when the link returns. The spool holds at most ``max_bytes`` of accounted bytes
(item bytes plus :data:`ROW_OVERHEAD` per row); SQLite's ``max_page_count`` caps the
file itself at twice that as a backstop.

When full, the *least valuable* item goes first: value is chosen by the caller (the
gateway uses ``priority + 1 - confidence of the answer already published``, so frames
whose degraded answer was already confident are dropped first); among equal values the
oldest goes first. A new item less valuable than everything stored is itself dropped.
Every drop is returned to the caller, which counts and logs it.

When the state disk refuses a write (:class:`~.db.StorageError`): a new item is
dropped (``PutResult.reason`` ``disk_full`` or ``io_error``; the caller counts it and
the frame keeps its local answer); marking items in flight raises (nothing is sent
until the disk takes writes); releases and removals are kept in memory, in order, and
applied before the next write (removed items are no longer offered meanwhile).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .db import Database, StorageError, StorageHealth

Key = tuple[str, int, int]
ROW_OVERHEAD = 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    item BLOB NOT NULL,
    size INTEGER NOT NULL,
    value REAL NOT NULL,
    ready_at REAL NOT NULL DEFAULT 0,
    inflight TEXT,
    UNIQUE (device_id, epoch, seq)
);
CREATE INDEX IF NOT EXISTS items_value ON items (value, id);
"""


@dataclass(frozen=True)
class SpooledItem:
    id: int
    key: Key
    item: bytes


@dataclass
class PutResult:
    stored: bool
    duplicate: bool = False
    dropped: list[Key] = field(default_factory=list)  # evicted to make room (or the new key)
    too_large: bool = False  # the new item alone exceeds what may be sent or stored
    reason: str = ""  # why keys were dropped: full, too_large, disk_full, io_error

    def __post_init__(self) -> None:
        if not self.reason and self.dropped:
            self.reason = "too_large" if self.too_large else "full"


# A write owed to the spool file: ("release", corr, ready_at), ("release_keys", keys,
# ready_at), ("release_all", ready_at) or ("remove", keys).
_Owed = tuple[object, ...]


class Spool:
    #: What a failed spool write costs (the storage-error log line says it).
    MEANS = ("escalations that cannot be spooled are dropped: answered locally, counted in "
             "ec_gateway_spool_dropped_total{reason=\"disk_full\"}, no cloud correction")

    def __init__(self, path: str | Path, max_bytes: int, *,
                 health: StorageHealth | None = None) -> None:
        self.max_bytes = max_bytes
        self.db = Database(path, SCHEMA, max_bytes=2 * max_bytes + 1024 * 1024, name="spool",
                           means=self.MEANS, health=health)
        self._lock = threading.Lock()
        self._owed: list[_Owed] = []  # writes the disk refused, applied before the next
        self._removing: set[Key] = set()  # keys of owed removals: not offered again
        row = self.db.query("SELECT COALESCE(SUM(size),0), COUNT(*) FROM items")[0]
        self._bytes = int(row[0])
        self._count = int(row[1])
        # whatever was in flight when we stopped is sendable again
        self._owe(("release_all", 0.0))

    @property
    def used_bytes(self) -> int:
        return self._bytes

    @property
    def depth(self) -> int:
        return self._count

    @property
    def owed_writes(self) -> int:
        return len(self._owed)

    # -- writes -------------------------------------------------------------------------
    @contextmanager
    def _write(self, counted: bool = True) -> Iterator[tuple[sqlite3.Connection, list[int]]]:
        """A transaction that first applies the owed writes; ``delta`` ([bytes, count])
        is added to the accounting only once it committed."""
        with self.db.lock:
            owed = list(self._owed)
            delta = [0, 0]
            with self.db.tx(counted=counted) as c:
                for op in owed:
                    self._apply(c, op, delta)
                yield c, delta
            del self._owed[:len(owed)]
            for op in owed:
                if op[0] == "remove":
                    self._removing.difference_update(op[1])  # type: ignore[arg-type]
            self._bytes += delta[0]
            self._count += delta[1]

    def _apply(self, c: sqlite3.Connection, op: _Owed, delta: list[int]) -> int:
        kind = op[0]
        if kind == "release":
            cur = c.execute("UPDATE items SET inflight=NULL, ready_at=? WHERE inflight=?",
                            (op[2], op[1]))
            return int(cur.rowcount)
        if kind == "release_keys":
            c.executemany("UPDATE items SET inflight=NULL, ready_at=? "
                          "WHERE device_id=? AND epoch=? AND seq=?",
                          [(op[2], *k) for k in op[1]])  # type: ignore[attr-defined]
            return 0
        if kind == "release_all":
            cur = c.execute("UPDATE items SET inflight=NULL, ready_at=? "
                            "WHERE inflight IS NOT NULL", (op[1],))
            return int(cur.rowcount)
        removed = 0  # "remove"
        for key in op[1]:  # type: ignore[attr-defined]
            row = c.execute("SELECT id, size FROM items "
                            "WHERE device_id=? AND epoch=? AND seq=?", key).fetchone()
            if row:
                c.execute("DELETE FROM items WHERE id=?", (row[0],))
                delta[0] -= int(row[1])
                delta[1] -= 1
                removed += 1
        return removed

    def _owe(self, op: _Owed) -> int:
        """Apply ``op`` now, or keep it for the next write when the disk refuses it."""
        try:
            with self._write(counted=False) as (c, delta):
                return self._apply(c, op, delta)
        except StorageError:
            with self.db.lock:
                self._owed.append(op)
                if op[0] == "remove":
                    self._removing.update(op[1])  # type: ignore[arg-type]
            return 0

    def flush_owed(self) -> bool:
        """Apply the owed writes (housekeeping); True when none are left."""
        if not self._owed:
            return True
        try:
            with self._write(counted=False):
                pass
        except StorageError:
            return False
        return True

    def put(self, key: Key, item: bytes, value: float) -> PutResult:
        size = len(item) + ROW_OVERHEAD
        if size > self.max_bytes:
            return PutResult(False, dropped=[key], too_large=True)
        out = PutResult(True)
        try:
            with self._lock, self._write() as (c, delta):
                if c.execute("SELECT 1 FROM items WHERE device_id=? AND epoch=? AND seq=?",
                             key).fetchone():
                    return PutResult(True, duplicate=True)
                while self._bytes + delta[0] + size > self.max_bytes:
                    victim = c.execute(
                        "SELECT id, device_id, epoch, seq, size, value FROM items "
                        "WHERE inflight IS NULL ORDER BY value, id LIMIT 1").fetchone()
                    if victim is None or victim[5] > value:
                        out.stored = False
                        out.dropped.append(key)
                        out.reason = "full"
                        return out
                    c.execute("DELETE FROM items WHERE id=?", (victim[0],))
                    delta[0] -= int(victim[4])
                    delta[1] -= 1
                    out.dropped.append((str(victim[1]), int(victim[2]), int(victim[3])))
                c.execute("INSERT INTO items (device_id, epoch, seq, item, size, value) "
                          "VALUES (?,?,?,?,?,?)", (*key, item, size, value))
                delta[0] += size
                delta[1] += 1
        except StorageError as exc:  # nothing of this put happened: drop the new item
            # file_cap: the file reached its backstop cap (reported as "full")
            return PutResult(False, dropped=[key],
                             reason="full" if exc.reason == "file_cap" else exc.reason)
        if out.dropped:
            out.reason = "full"
        return out

    def mark_inflight(self, ids: list[int], correlation_id: str) -> None:
        """Raises :class:`StorageError` when the disk refuses (then send nothing)."""
        with self._write(counted=False) as (c, _):
            c.executemany("UPDATE items SET inflight=? WHERE id=?",
                          [(correlation_id, i) for i in ids])

    def release(self, correlation_id: str, ready_at: float) -> int:
        """Items of an unanswered request become sendable again at ``ready_at``."""
        return self._owe(("release", correlation_id, ready_at))

    def release_keys(self, keys: list[Key], ready_at: float) -> None:
        self._owe(("release_keys", list(keys), ready_at))

    def release_all(self, ready_at: float) -> int:
        return self._owe(("release_all", ready_at))

    def remove(self, keys: list[Key]) -> int:
        with self._lock:
            return self._owe(("remove", list(keys)))

    # -- reads --------------------------------------------------------------------------
    def next_batch(self, max_items: int, max_bytes: int, now: float) -> list[SpooledItem]:
        """The oldest sendable items, in arrival order, within the item and byte limits."""
        rows = self.db.query(
            "SELECT id, device_id, epoch, seq, item FROM items "
            "WHERE inflight IS NULL AND ready_at <= ? ORDER BY id LIMIT ?",
            (now, max_items + len(self._removing)))
        out: list[SpooledItem] = []
        total = 0
        for i, d, e, s, b in rows:
            key = (str(d), int(e), int(s))
            if key in self._removing:
                continue
            blob = bytes(b)
            if out and (total + len(blob) > max_bytes or len(out) >= max_items):
                break
            total += len(blob)
            out.append(SpooledItem(int(i), key, blob))
        return out

    def has_ready(self, now: float) -> bool:
        return bool(self.db.query(
            "SELECT 1 FROM items WHERE inflight IS NULL AND ready_at <= ? LIMIT 1", (now,)))

    def next_ready_at(self) -> float | None:
        row = self.db.query("SELECT MIN(ready_at) FROM items WHERE inflight IS NULL")[0]
        return None if row[0] is None else float(row[0])

    def stored_keys(self) -> list[Key]:
        return [(str(d), int(e), int(s))
                for d, e, s in self.db.query("SELECT device_id, epoch, seq FROM items ORDER BY id")
                if (str(d), int(e), int(s)) not in self._removing]

    def close(self) -> None:
        self.flush_owed()
        self.db.close()
