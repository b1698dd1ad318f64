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
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .db import Database

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


class Spool:
    def __init__(self, path: str | Path, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.db = Database(path, SCHEMA, max_bytes=2 * max_bytes + 1024 * 1024)
        self._lock = threading.Lock()
        with self.db.tx() as c:  # whatever was in flight when we stopped is sendable again
            c.execute("UPDATE items SET inflight=NULL, ready_at=0 WHERE inflight IS NOT NULL")
        row = self.db.query("SELECT COALESCE(SUM(size),0), COUNT(*) FROM items")[0]
        self._bytes = int(row[0])
        self._count = int(row[1])

    @property
    def used_bytes(self) -> int:
        return self._bytes

    @property
    def depth(self) -> int:
        return self._count

    def put(self, key: Key, item: bytes, value: float) -> PutResult:
        size = len(item) + ROW_OVERHEAD
        if size > self.max_bytes:
            return PutResult(False, dropped=[key], too_large=True)
        out = PutResult(True)
        with self._lock, self.db.tx() as c:
            if c.execute("SELECT 1 FROM items WHERE device_id=? AND epoch=? AND seq=?",
                         key).fetchone():
                return PutResult(True, duplicate=True)
            while self._bytes + size > self.max_bytes:
                victim = c.execute(
                    "SELECT id, device_id, epoch, seq, size, value FROM items "
                    "WHERE inflight IS NULL ORDER BY value, id LIMIT 1").fetchone()
                if victim is None or victim[5] > value:
                    out.stored = False
                    out.dropped.append(key)
                    return out
                c.execute("DELETE FROM items WHERE id=?", (victim[0],))
                self._bytes -= int(victim[4])
                self._count -= 1
                out.dropped.append((str(victim[1]), int(victim[2]), int(victim[3])))
            try:
                c.execute("INSERT INTO items (device_id, epoch, seq, item, size, value) "
                          "VALUES (?,?,?,?,?,?)", (*key, item, size, value))
            except sqlite3.OperationalError:  # file cap reached (SQLITE_FULL): drop the new item
                out.stored = False
                out.dropped.append(key)
                return out
            self._bytes += size
            self._count += 1
        return out

    def next_batch(self, max_items: int, max_bytes: int, now: float) -> list[SpooledItem]:
        """The oldest sendable items, in arrival order, within the item and byte limits."""
        rows = self.db.query(
            "SELECT id, device_id, epoch, seq, item FROM items "
            "WHERE inflight IS NULL AND ready_at <= ? ORDER BY id LIMIT ?", (now, max_items))
        out: list[SpooledItem] = []
        total = 0
        for i, d, e, s, b in rows:
            blob = bytes(b)
            if out and total + len(blob) > max_bytes:
                break
            total += len(blob)
            out.append(SpooledItem(int(i), (str(d), int(e), int(s)), blob))
        return out

    def has_ready(self, now: float) -> bool:
        return bool(self.db.query(
            "SELECT 1 FROM items WHERE inflight IS NULL AND ready_at <= ? LIMIT 1", (now,)))

    def next_ready_at(self) -> float | None:
        row = self.db.query("SELECT MIN(ready_at) FROM items WHERE inflight IS NULL")[0]
        return None if row[0] is None else float(row[0])

    def mark_inflight(self, ids: list[int], correlation_id: str) -> None:
        with self.db.tx() as c:
            c.executemany("UPDATE items SET inflight=? WHERE id=?",
                          [(correlation_id, i) for i in ids])

    def release(self, correlation_id: str, ready_at: float) -> int:
        """Items of an unanswered request become sendable again at ``ready_at``."""
        with self.db.tx() as c:
            cur = c.execute("UPDATE items SET inflight=NULL, ready_at=? WHERE inflight=?",
                            (ready_at, correlation_id))
            return int(cur.rowcount)

    def release_keys(self, keys: list[Key], ready_at: float) -> None:
        with self.db.tx() as c:
            c.executemany("UPDATE items SET inflight=NULL, ready_at=? "
                          "WHERE device_id=? AND epoch=? AND seq=?",
                          [(ready_at, *k) for k in keys])

    def release_all(self, ready_at: float) -> int:
        with self.db.tx() as c:
            cur = c.execute("UPDATE items SET inflight=NULL, ready_at=? WHERE inflight IS NOT NULL",
                            (ready_at,))
            return int(cur.rowcount)

    def remove(self, keys: list[Key]) -> int:
        removed = 0
        with self._lock, self.db.tx() as c:
            for key in keys:
                row = c.execute("SELECT id, size FROM items "
                                "WHERE device_id=? AND epoch=? AND seq=?", key).fetchone()
                if row:
                    c.execute("DELETE FROM items WHERE id=?", (row[0],))
                    self._bytes -= int(row[1])
                    self._count -= 1
                    removed += 1
        return removed

    def stored_keys(self) -> list[Key]:
        return [(str(d), int(e), int(s))
                for d, e, s in self.db.query("SELECT device_id, epoch, seq FROM items ORDER BY id")]

    def close(self) -> None:
        self.db.close()
