"""SQLite opened the one way every gateway store uses it: WAL, one locked connection.

``synchronous=NORMAL`` in WAL mode makes every committed transaction survive a process
crash (SIGKILL); only an OS crash or power loss can roll back the last commits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any


class Database:
    """A SQLite file shared by threads through one connection and a lock."""

    def __init__(self, path: str | Path, schema: str, max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False,
                                     isolation_level=None, timeout=30)
        self.lock = threading.RLock()
        self._ckpt: sqlite3.Connection | None = None
        with self.lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            # Checkpoints (which fsync) run from housekeeping, not in the committing thread.
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
            if max_bytes is not None:
                page = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
                self._conn.execute(f"PRAGMA max_page_count={max(16, max_bytes // page)}")
            self._conn.executescript(schema)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction (committed on exit, rolled back on error)."""
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return list(self._conn.execute(sql, args).fetchall())

    def checkpoint(self) -> None:
        """Copy the WAL into the database (PASSIVE: never blocks writers) from a second
        connection, so the fsync it implies does not stall the thread that commits."""
        if self._ckpt is None:
            self._ckpt = sqlite3.connect(str(self.path), check_same_thread=False,
                                         isolation_level=None, timeout=30)
        self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def file_bytes(self) -> int:
        """Bytes on disk: the database plus its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def close(self) -> None:
        with self.lock:
            with suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            if self._ckpt is not None:
                self._ckpt.close()
