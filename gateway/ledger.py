"""The frame ledger: dedupe by (device, epoch, seq) and the outbox of final results.

Every report that needs more than the device answer is written here (``pending``) and
committed *before* its MQTT PUBACK is sent, so a SIGKILL cannot lose an acknowledged
report: on restart :meth:`pending` lists what is still to answer. Each final result is
stored with the frame (status ``unsent``) before it is published and marked ``sent``
when the broker acknowledged it; :meth:`unsent` lists what to publish again after a crash.
Results are therefore at-least-once on the wire after a crash, and idempotent by
(device, epoch, seq, revision); there is never a second *different* revision-0 answer.

The ledger remembers the last ``keep`` finished frames for duplicate detection; a
duplicate older than that window is answered again (documented, counted as new).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from .db import Database

Key = tuple[str, int, int]

SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    status INTEGER NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    cloud_done INTEGER NOT NULL DEFAULT 0,
    report BLOB,
    result BLOB,
    UNIQUE (device_id, epoch, seq)
);
CREATE TABLE IF NOT EXISTS epochs (
    device_id TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL
);
"""


class Status(IntEnum):
    PENDING = 0  # stored, acknowledged, not yet answered
    UNSENT = 1  # final result stored, not yet acknowledged by the broker
    SENT = 2  # final result acknowledged by the broker


@dataclass(frozen=True)
class FrameState:
    status: Status
    revision: int
    cloud_done: bool
    received_ms: int


@dataclass(frozen=True)
class PendingFrame:
    key: Key
    report: bytes
    received_ms: int


class Ledger:
    def __init__(self, path: str | Path, keep: int = 100_000) -> None:
        self.db = Database(path, SCHEMA)
        self.keep = keep

    def state(self, key: Key) -> FrameState | None:
        rows = self.db.query(
            "SELECT status, revision, cloud_done, received_ms FROM frames "
            "WHERE device_id=? AND epoch=? AND seq=?", key)
        if not rows:
            return None
        s, r, c, t = rows[0]
        return FrameState(Status(int(s)), int(r), bool(c), int(t))

    def admit(self, key: Key, report: bytes, received_ms: int) -> FrameState | None:
        """Store a new pending frame; return None if new, else the existing frame's state."""
        with self.db.tx() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO frames (device_id, epoch, seq, received_ms, status, report)"
                " VALUES (?,?,?,?,?,?)", (*key, received_ms, int(Status.PENDING), report))
            if cur.rowcount:
                return None
        return self.state(key)

    def admit_final(self, key: Key, received_ms: int,
                    result: Callable[[], bytes]) -> FrameState | None:
        """Store a frame answered at once (device tier); None if new, else existing state.

        ``result`` builds the result bytes once the frame is known to be new, inside the
        transaction, so the latency it records covers the dedupe check."""
        with self.db.tx() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO frames (device_id, epoch, seq, received_ms, status)"
                " VALUES (?,?,?,?,?)", (*key, received_ms, int(Status.UNSENT)))
            if cur.rowcount:
                c.execute("UPDATE frames SET result=? WHERE id=?", (result(), cur.lastrowid))
                return None
        return self.state(key)

    def record(self, key: Key, revision: int, result: bytes, cloud_done: bool) -> None:
        """Store a final result (or a correction) for a known frame, status unsent."""
        with self.db.tx() as c:
            c.execute(
                "UPDATE frames SET status=?, revision=?, result=?, cloud_done=?, report=NULL "
                "WHERE device_id=? AND epoch=? AND seq=?",
                (int(Status.UNSENT), revision, result, int(cloud_done), *key))

    def mark_sent(self, items: list[tuple[Key, int]], chunk: int = 64) -> None:
        """Mark results acknowledged by the broker, in short transactions so the thread
        that admits reports never waits long for the database."""
        for start in range(0, len(items), chunk):
            with self.db.tx() as c:
                c.executemany(
                    "UPDATE frames SET status=? WHERE device_id=? AND epoch=? AND seq=? "
                    "AND revision=? AND status=?",
                    [(int(Status.SENT), *k, r, int(Status.UNSENT))
                     for k, r in items[start:start + chunk]])

    def pending(self) -> list[PendingFrame]:
        rows = self.db.query(
            "SELECT device_id, epoch, seq, report, received_ms FROM frames "
            "WHERE status=? ORDER BY id", (int(Status.PENDING),))
        return [PendingFrame((str(d), int(e), int(s)), bytes(r), int(t))
                for d, e, s, r, t in rows]

    def unsent(self) -> list[tuple[Key, int, bytes]]:
        rows = self.db.query(
            "SELECT device_id, epoch, seq, revision, result FROM frames "
            "WHERE status=? ORDER BY id", (int(Status.UNSENT),))
        return [((str(d), int(e), int(s)), int(r), bytes(b))
                for d, e, s, r, b in rows]

    def count(self, status: Status) -> int:
        return int(self.db.query("SELECT COUNT(*) FROM frames WHERE status=?",
                                 (int(status),))[0][0])

    def prune(self, chunk: int = 2000) -> int:
        """Forget finished frames beyond the dedupe window; returns how many.

        Deletes in short transactions so report admission never waits long."""
        rows = self.db.query("SELECT MIN(id), MAX(id) FROM frames")
        if not rows or rows[0][1] is None:
            return 0
        low, limit = int(rows[0][0]), int(rows[0][1]) - self.keep
        removed = 0
        while low <= limit:
            high = min(limit, low + chunk - 1)
            with self.db.tx() as c:
                cur = c.execute("DELETE FROM frames WHERE id BETWEEN ? AND ? AND status=?",
                                (low, high, int(Status.SENT)))
                removed += int(cur.rowcount)
            low = high + 1
        return removed

    # -- gateway-assigned epochs -------------------------------------------------
    def next_epoch(self, device_id: str, floor: int = 1) -> int:
        """A new epoch for a device that cannot keep one: always higher than the last."""
        with self.db.tx() as c:
            row = c.execute("SELECT epoch FROM epochs WHERE device_id=?", (device_id,)).fetchone()
            epoch = max(floor, (int(row[0]) + 1) if row else 1)
            c.execute("INSERT OR REPLACE INTO epochs (device_id, epoch) VALUES (?,?)",
                      (device_id, epoch))
            return epoch

    def has_epoch(self, device_id: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM epochs WHERE device_id=?", (device_id,)))

    def close(self) -> None:
        self.db.close()
