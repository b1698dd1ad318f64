"""The frame ledger: dedupe by (device, epoch, seq) and the outbox of final results.

Every report that needs more than the device answer is written here (``pending``) and
committed *before* its MQTT PUBACK is sent (reports taken together share one transaction,
:meth:`Ledger.admit_batch`), so a SIGKILL cannot lose an acknowledged report: on restart
:meth:`pending` lists what is still to answer. Each final result is stored with the frame
(``unsent``) before it is published and marked ``sent`` when the broker acknowledged it;
:meth:`unsent` lists what to publish again after a crash: at-least-once on the wire,
idempotent by (device, epoch, seq, revision), never a second *different* revision 0.

The ledger remembers the last ``keep`` finished frames for duplicate detection; a
duplicate older than that window is answered again (documented, counted as new).
A report whose epoch is below the device's highest starts a new session: its old
answered frames are moved aside, replays of them stay duplicates (:mod:`.sessions`).

When the state disk refuses a write (full, or failing: :class:`~.db.StorageError`),
the ledger does not fail the frame: it records it in memory (at most ``memory_keep``
frames, oldest forgotten first) so duplicates are still recognised and a frame never
gets two different answers, and :meth:`flush_memory` writes those frames to disk once
it takes writes again. Such frames are acknowledged but not durable across a crash
until flushed; everything committed while the disk worked keeps the guarantee above.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import sessions
from .db import Database, StorageError, StorageHealth
from .frame_state import FrameState, Key, Status
from .sessions import report_digest

log = logging.getLogger("edgecascade.gateway.ledger")

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


@dataclass(frozen=True)
class PendingFrame:
    key: Key
    report: bytes
    received_ms: int


@dataclass(frozen=True)
class Admission:
    """A frame to admit: pending (its ``report``) or answered at once (``result`` builds the
    bytes once it is known new, inside the transaction: its latency covers the dedupe)."""

    key: Key
    received_ms: int
    report: bytes | None = None
    result: Callable[[], bytes] | None = None
    digest: bytes | None = None  # of the report's bytes (None: from ``report``, if any)

    def report_digest(self) -> bytes | None:
        if self.digest is not None:
            return self.digest
        return report_digest(self.report) if self.report is not None else None


@dataclass
class _Unstored:
    """A frame the disk refused: kept in memory until it can be written."""

    status: Status
    revision: int
    cloud_done: bool
    received_ms: int
    report: bytes | None = None
    result: bytes | None = None

    def state(self) -> FrameState:
        return FrameState(self.status, self.revision, self.cloud_done, self.received_ms)


class Ledger:
    #: What a failed ledger write costs (the storage-error log line says it).
    MEANS = ("frames are still answered and acknowledged, but recorded in memory only "
             "(not durable across a crash; duplicates still answered once) until the disk "
             "has room")

    def __init__(self, path: str | Path, keep: int = 100_000, *, memory_keep: int = 10_000,
                 health: StorageHealth | None = None) -> None:
        self.db = Database(path, SCHEMA + sessions.SCHEMA, name="ledger", means=self.MEANS,
                           health=health)
        self.keep = keep
        self.memory_keep = memory_keep
        # Frames (and epochs) whose write the disk refused, newest last; bounded.
        self._mem: OrderedDict[Key, _Unstored] = OrderedDict()
        self._mem_epochs: dict[str, int] = {}
        self._unmarked: list[tuple[Key, int]] = []  # mark_sent updates still owed
        self.forgotten = 0  # in-memory frames evicted beyond memory_keep
        self.sessions = sessions.Sessions(self.db)  # epochs going backwards, replays

    # -- the in-memory record (all under db.lock) ------------------------------------
    @property
    def memory_frames(self) -> int:
        """Frames recorded in memory only (the disk refused them)."""
        return len(self._mem)

    @property
    def owes_writes(self) -> bool:
        """Something the disk refused waits in memory (frames, epochs, sent marks)."""
        return bool(self._mem or self._mem_epochs or self._unmarked)

    def _remember(self, key: Key, frame: _Unstored) -> None:
        self._mem[key] = frame
        self._mem.move_to_end(key)
        while len(self._mem) > self.memory_keep:
            self._mem.popitem(last=False)
            self.forgotten += 1

    def _db_state(self, key: Key) -> FrameState | None:
        rows = self.db.query(
            "SELECT status, revision, cloud_done, received_ms FROM frames "
            "WHERE device_id=? AND epoch=? AND seq=?", key)
        if not rows:
            return None
        s, r, c, t = rows[0]
        return FrameState(Status(int(s)), int(r), bool(c), int(t))

    # -- frames ----------------------------------------------------------------------
    def state(self, key: Key) -> FrameState | None:
        with self.db.lock:
            mem = self._mem.get(key)
            return mem.state() if mem is not None else self._db_state(key)

    def admit(self, key: Key, report: bytes, received_ms: int) -> FrameState | None:
        """Store a new pending frame; None if new, else the existing frame's state."""
        return self.admit_batch([Admission(key, received_ms, report)])[0]

    def admit_final(self, key: Key, received_ms: int,
                    result: Callable[[], bytes]) -> FrameState | None:
        """Store a frame answered at once (device tier), see :class:`Admission`."""
        return self.admit_batch([Admission(key, received_ms, result=result)])[0]

    def admit_batch(self, items: Sequence[Admission]) -> list[FrameState | None]:
        """Admit frames in ONE transaction (group commit), in order, each as if alone (the
        epoch rule per key; a frame earlier in the batch exists for a later one): None if
        new, else the existing frame's state. When the disk refuses the transaction (one
        failed write), nothing of it is on disk: each new frame is kept in memory."""
        out: list[FrameState | None] = [None] * len(items)
        built: dict[int, bytes] = {}

        def data(i: int) -> bytes:  # each result is built at most once
            make = items[i].result
            if i not in built and make is not None:
                built[i] = make()
            return built[i]

        with self.db.lock:
            if all(a.key in self._mem for a in items):  # no write: nothing to refuse
                return [self._mem[a.key].state() for a in items]
            try:
                with self.db.tx() as c:
                    for i, a in enumerate(items):
                        mem = self._mem.get(a.key)
                        if mem is not None:
                            out[i] = mem.state()
                            continue
                        self._session(c, a.key)
                        digest = a.report_digest()
                        old = self.sessions.replayed(c, a.key, digest)
                        if old is not None:  # an old session's frame again: a duplicate
                            out[i] = old
                            continue
                        final = a.result is not None
                        cur = c.execute(
                            "INSERT OR IGNORE INTO frames (device_id, epoch, seq, received_ms,"
                            " status, report, digest) VALUES (?,?,?,?,?,?,?)",
                            (*a.key, a.received_ms,
                             int(Status.UNSENT if final else Status.PENDING), a.report,
                             digest))
                        if not cur.rowcount:
                            out[i] = self._db_state(a.key)
                        elif final:
                            c.execute("UPDATE frames SET result=? WHERE id=?",
                                      (data(i), cur.lastrowid))
            except StorageError:
                for a in items:
                    self.sessions.forget(a.key[0])  # a refused session purge is retried
                for i, a in enumerate(items):
                    mem = self._mem.get(a.key)
                    out[i] = mem.state() if mem is not None else self._db_state(a.key)
                    if out[i] is None and a.result is None:
                        self._remember(a.key, _Unstored(Status.PENDING, 0, False,
                                                        a.received_ms, a.report))
                    elif out[i] is None:
                        self._remember(a.key, _Unstored(Status.UNSENT, 0, False,
                                                        a.received_ms, result=data(i)))
        return out

    def _session(self, c: sqlite3.Connection, key: Key) -> None:
        """The session rule (:meth:`.Sessions.begin`); a new session also drops this
        device's answered frames from that epoch on from the in-memory record."""
        epoch = self.sessions.begin(c, key)
        if epoch is not None:
            for k in [k for k, m in self._mem.items()
                      if k[0] == key[0] and k[1] >= epoch and m.status is Status.SENT]:
                del self._mem[k]

    def record(self, key: Key, revision: int, result: bytes, cloud_done: bool) -> None:
        """Store a final result (or a correction) for a known frame, status unsent
        (in memory when the disk refuses it)."""
        with self.db.lock:
            mem = self._mem.get(key)
            if mem is None:
                try:
                    with self.db.tx() as c:
                        c.execute(
                            "UPDATE frames SET status=?, revision=?, result=?, cloud_done=?,"
                            " report=NULL WHERE device_id=? AND epoch=? AND seq=?",
                            (int(Status.UNSENT), revision, result, int(cloud_done), *key))
                    return
                except StorageError:
                    old = self._db_state(key)
                    mem = _Unstored(Status.UNSENT, revision, cloud_done,
                                    old.received_ms if old else 0)
                    self._remember(key, mem)
            mem.status, mem.revision, mem.result = Status.UNSENT, revision, result
            mem.cloud_done, mem.report = cloud_done, None

    def mark_sent(self, items: list[tuple[Key, int]], chunk: int = 64) -> None:
        """Mark results acknowledged by the broker, in short transactions (admission never
        waits long). Refused updates are retried with the next call (a result left unsent
        is at worst published again after a crash: same bytes)."""
        with self.db.lock:
            owed, self._unmarked = self._unmarked, []
            on_disk: list[tuple[Key, int]] = owed
            for key, revision in items:
                mem = self._mem.get(key)
                if mem is None:
                    on_disk.append((key, revision))
                elif mem.revision == revision and mem.status is Status.UNSENT:
                    mem.status = Status.SENT
        for start in range(0, len(on_disk), chunk):
            part = on_disk[start:start + chunk]
            try:
                with self.db.tx(counted=False) as c:
                    c.executemany(
                        "UPDATE frames SET status=? WHERE device_id=? AND epoch=? AND seq=? "
                        "AND revision=? AND status=?",
                        [(int(Status.SENT), *k, r, int(Status.UNSENT)) for k, r in part])
            except StorageError:
                with self.db.lock:
                    self._unmarked.extend(on_disk[start:])
                    del self._unmarked[:-100_000]
                return

    def pending(self) -> list[PendingFrame]:
        rows = self.db.query(
            "SELECT device_id, epoch, seq, report, received_ms FROM frames "
            "WHERE status=? ORDER BY id", (int(Status.PENDING),))
        out = [PendingFrame((str(d), int(e), int(s)), bytes(r), int(t))
               for d, e, s, r, t in rows]
        with self.db.lock:
            out += [PendingFrame(k, m.report, m.received_ms) for k, m in self._mem.items()
                    if m.status is Status.PENDING and m.report is not None]
        return out

    def tops(self) -> list[Key]:
        """The highest seq stored per device and epoch (epochs ascending): where each
        device's sequence stood when the gateway stopped."""
        rows = self.db.query("SELECT device_id, epoch, MAX(seq) FROM frames "
                             "GROUP BY device_id, epoch ORDER BY device_id, epoch")
        return [(str(d), int(e), int(s)) for d, e, s in rows]

    def unsent(self) -> list[tuple[Key, int, bytes]]:
        rows = self.db.query(
            "SELECT device_id, epoch, seq, revision, result FROM frames "
            "WHERE status=? ORDER BY id", (int(Status.UNSENT),))
        out = [((str(d), int(e), int(s)), int(r), bytes(b)) for d, e, s, r, b in rows]
        with self.db.lock:
            out += [(k, m.revision, m.result) for k, m in self._mem.items()
                    if m.status is Status.UNSENT and m.result is not None]
        return out

    def count(self, status: Status) -> int:
        with self.db.lock:
            mem = sum(1 for m in self._mem.values() if m.status is status)
            return mem + int(self.db.query("SELECT COUNT(*) FROM frames WHERE status=?",
                                           (int(status),))[0][0])

    def flush_memory(self) -> int:
        """Write what the disk refused earlier (frames, epochs, owed updates); returns how
        many frames went to disk. A refusal keeps all in memory (not counted again)."""
        with self.db.lock:
            if not self._mem and not self._mem_epochs and not self._unmarked:
                return 0
            frames = list(self._mem.items())
            epochs = dict(self._mem_epochs)
            try:
                with self.db.tx(counted=False) as c:
                    c.executemany(
                        "INSERT INTO frames (device_id, epoch, seq, received_ms, status,"
                        " revision, cloud_done, report, result) VALUES (?,?,?,?,?,?,?,?,?) "
                        "ON CONFLICT (device_id, epoch, seq) DO UPDATE SET "
                        "status=excluded.status, revision=excluded.revision, "
                        "cloud_done=excluded.cloud_done, report=excluded.report, "
                        "result=excluded.result",
                        [(*k, m.received_ms, int(m.status), m.revision, int(m.cloud_done),
                          m.report, m.result) for k, m in frames])
                    c.executemany(
                        "INSERT INTO epochs (device_id, epoch) VALUES (?,?) ON CONFLICT "
                        "(device_id) DO UPDATE SET epoch=MAX(epoch, excluded.epoch)",
                        list(epochs.items()))
            except StorageError:
                return 0
            self._mem.clear()
            self._mem_epochs.clear()
        self.mark_sent([])  # the owed updates, now that the disk takes writes
        return len(frames)

    def prune(self, chunk: int = 2000) -> int:
        """Forget finished frames beyond the dedupe window; returns how many. Deletes in
        short transactions; stops quietly when the disk refuses (even a delete)."""
        rows = self.db.query("SELECT MIN(id), MAX(id) FROM frames")
        if not rows or rows[0][1] is None:
            return 0
        aside = self.sessions.oldest()
        low = min(int(rows[0][0]), aside if aside is not None else int(rows[0][0]))
        limit = int(rows[0][1]) - self.keep
        removed = 0
        while low <= limit:
            high = min(limit, low + chunk - 1)
            try:
                with self.db.tx(counted=False) as c:
                    cur = c.execute("DELETE FROM frames WHERE id BETWEEN ? AND ? AND status=?",
                                    (low, high, int(Status.SENT)))
                    removed += int(cur.rowcount)
                    self.sessions.prune(c, low, high)  # moved aside: the same window
            except StorageError:
                break
            low = high + 1
        return removed

    # -- gateway-assigned epochs -------------------------------------------------
    def next_epoch(self, device_id: str, floor: int = 1) -> int:
        """A new epoch for a device that cannot keep one: always higher than the last
        (kept in memory, and written later, when the disk refuses it)."""
        with self.db.lock:
            mem = self._mem_epochs.get(device_id)
            try:
                with self.db.tx() as c:
                    row = c.execute("SELECT epoch FROM epochs WHERE device_id=?",
                                    (device_id,)).fetchone()
                    last = max(int(row[0]) if row else 0, mem or 0)
                    epoch = max(floor, last + 1)
                    c.execute("INSERT OR REPLACE INTO epochs (device_id, epoch) VALUES (?,?)",
                              (device_id, epoch))
            except StorageError:
                row = self.db.query("SELECT epoch FROM epochs WHERE device_id=?",
                                    (device_id,))
                last = max(int(row[0][0]) if row else 0, mem or 0)
                epoch = max(floor, last + 1)
                self._mem_epochs[device_id] = epoch
                return epoch
            self._mem_epochs.pop(device_id, None)
            return epoch

    def has_epoch(self, device_id: str) -> bool:
        with self.db.lock:
            if device_id in self._mem_epochs:
                return True
        return bool(self.db.query("SELECT 1 FROM epochs WHERE device_id=?", (device_id,)))

    def close(self) -> None:
        left = self.memory_frames
        if left and not self.flush_memory():
            log.warning("ledger closed with frames recorded in memory only (disk still refuses)",
                        extra={"frames": left})
        self.db.close()
