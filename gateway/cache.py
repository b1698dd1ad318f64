"""Last-good cache (SQLite, WAL): confirmed answers per device stream and per frame content.

* ``stream``: (written behind, flushed by the gateway's housekeeping every 0.2 s: it is
  a cache, losing its last fraction of a second in a crash costs nothing) the last
  confirmed answer of each device (a confident device answer, an
  edge-confident answer or a cloud answer), used to answer *stale* with its age when no
  tier can answer a frame in time.
* ``content``: answers keyed by the SHA-256 of the frame bytes (plus shape and dtype), so
  an identical frame is answered from the cache instead of being escalated again. Only
  edge-confident and cloud answers go here; the table keeps the newest ``max_entries``.

When the state disk refuses a write, the cache loses nothing that matters: stream
answers stay in memory until a later flush succeeds (one per device), a content answer
is simply not kept.
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from edgecascade.protocol import Frame

from .db import Database, StorageError, StorageHealth

SCHEMA = """
CREATE TABLE IF NOT EXISTS stream (
    device_id TEXT PRIMARY KEY,
    label INTEGER NOT NULL, confidence REAL NOT NULL, tier TEXT NOT NULL,
    model_id TEXT NOT NULL, model_version INTEGER NOT NULL, ts_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS content (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash BLOB NOT NULL UNIQUE,
    label INTEGER NOT NULL, confidence REAL NOT NULL, tier TEXT NOT NULL,
    model_id TEXT NOT NULL, model_version INTEGER NOT NULL, ts_ms INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Answer:
    """A confirmed answer and where it came from."""

    label: int
    confidence: float
    tier: str
    model_id: str
    model_version: int
    ts_ms: int
    fused: bool = False  # pooled with the device's evidence (issue 22); not kept in the cache


def frame_hash(frame: Frame) -> bytes:
    h = hashlib.sha256()
    h.update(f"{frame.dtype}:{','.join(map(str, frame.shape))}:{frame.scale}:{frame.zero_point}:"
             .encode())
    h.update(frame.data)
    return h.digest()


class LastGoodCache:
    #: What a failed cache write costs (the storage-error log line says it).
    MEANS = "last-good answers are kept in memory only, answers by frame content not at all"

    def __init__(self, path: str | Path, max_entries: int = 10_000, *,
                 health: StorageHealth | None = None) -> None:
        self.db = Database(path, SCHEMA, name="cache", means=self.MEANS, health=health)
        self.max_entries = max_entries
        self._writes = 0
        self._mem_lock = threading.Lock()
        self._dirty: dict[str, Answer] = {}
        self._kept_back = False  # the last flush failed: its answers wait in _dirty

    def put_stream(self, device_id: str, a: Answer) -> None:
        """Remember a device's last confirmed answer (in memory now, on disk at ``flush``)."""
        with self._mem_lock:
            self._dirty[device_id] = a

    def flush(self) -> None:
        """Write the stream answers remembered since the last flush (one transaction)."""
        with self._mem_lock:
            dirty, self._dirty = self._dirty, {}
        if not dirty:
            return
        try:  # a retry of answers kept back is not counted again
            with self.db.tx(counted=not self._kept_back) as c:
                c.executemany("INSERT OR REPLACE INTO stream VALUES (?,?,?,?,?,?,?)",
                              [(d, a.label, a.confidence, a.tier, a.model_id, a.model_version,
                                a.ts_ms) for d, a in dirty.items()])
        except StorageError:  # keep them for the next flush (newer answers win)
            with self._mem_lock:
                self._dirty = {**dirty, **self._dirty}
            self._kept_back = True
            return
        self._kept_back = False

    def last(self, device_id: str) -> Answer | None:
        with self._mem_lock:
            pending = self._dirty.get(device_id)
        if pending is not None:
            return pending
        rows = self.db.query("SELECT label, confidence, tier, model_id, model_version, ts_ms "
                             "FROM stream WHERE device_id=?", (device_id,))
        return Answer(*rows[0]) if rows else None

    def put_content(self, digest: bytes, a: Answer) -> None:
        with suppress(StorageError):  # a cache: the next identical frame is escalated
            self._put_content(digest, a)

    def _put_content(self, digest: bytes, a: Answer) -> None:
        with self.db.tx() as c:
            c.execute("INSERT OR REPLACE INTO content (hash, label, confidence, tier, model_id,"
                      " model_version, ts_ms) VALUES (?,?,?,?,?,?,?)",
                      (digest, a.label, a.confidence, a.tier, a.model_id, a.model_version,
                       a.ts_ms))
            self._writes += 1
            if self._writes % 256 == 0:
                c.execute("DELETE FROM content WHERE id <= (SELECT MAX(id) FROM content) - ?",
                          (self.max_entries,))

    def lookup(self, digest: bytes) -> Answer | None:
        rows = self.db.query("SELECT label, confidence, tier, model_id, model_version, ts_ms "
                             "FROM content WHERE hash=?", (digest,))
        return Answer(*rows[0]) if rows else None

    def close(self) -> None:
        self.flush()
        self.db.close()
