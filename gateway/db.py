"""SQLite opened the one way every gateway store uses it: WAL, one locked connection,
and one storage-error path.

``synchronous=NORMAL`` in WAL mode makes every committed transaction survive a process
crash (SIGKILL); only an OS crash or power loss can roll back the last commits.

Storage errors. When the state disk is full (``SQLITE_FULL``) or fails
(``SQLITE_IOERR``, read-only), :meth:`Database.tx` rolls back, reports the failure to
the shared :class:`StorageHealth` and raises :class:`StorageError`. Every store
decides what that means for it (the ledger keeps the frame in memory, the spool drops
the escalation, the cache forgets the entry); any other SQLite error is a bug and
propagates unchanged. The next committed transaction tells the health the store writes
again, so storage resumes by itself when space returns.

Test seams: :meth:`Database.limit_pages` caps the file with ``PRAGMA max_page_count``;
SQLite then refuses to grow it exactly as on a full disk (``SQLITE_FULL``).
:meth:`Database.refuse_writes` makes every write fail (``SQLITE_READONLY``), even
deletes and updates a full disk might still take.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecascade.errors import GatewayError

log = logging.getLogger("edgecascade.gateway.storage")

# SQLite primary result codes that mean "the disk cannot take this write".
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL = 8, 10, 13
#: Pages of slack below a store's own file cap under which SQLITE_FULL is that cap.
_CAP_SLACK_PAGES = 32


class StorageError(GatewayError):
    """A write the state disk refused: ``reason`` is ``disk_full``, ``io_error`` or
    ``file_cap`` (the store's own size cap, not the disk)."""

    def __init__(self, store: str, reason: str, why: str) -> None:
        self.store = store
        self.reason = reason
        self.why = why
        super().__init__(f"{store}: {reason}: {why}")


def storage_reason(exc: sqlite3.Error) -> str | None:
    """``disk_full`` / ``io_error`` for errors of the disk, None for anything else."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        primary = int(code) & 0xFF
        if primary == _SQLITE_FULL:
            return "disk_full"
        if primary in (_SQLITE_IOERR, _SQLITE_READONLY):
            return "io_error"
        return None
    text = str(exc).lower()  # Python < 3.11: no error codes on the exception
    if "database or disk is full" in text:
        return "disk_full"
    if "disk i/o error" in text or "readonly database" in text:
        return "io_error"
    return None


@dataclass
class _StoreHealth:
    failing: bool = False
    reason: str = ""
    failures: int = 0  # since the last log line
    logged_at: float = -1e18
    failed_at: float = -1e18
    announced: bool = False  # an ERROR line went out; say so when it writes again


class StorageHealth:
    """Which of a gateway's stores cannot write, shared by all of them.

    One ERROR log line when a store starts failing (then at most one every
    ``log_every_s`` while it lasts, with the count of failed writes), and one INFO line
    once it has written without a failure for ``settle_s``: a disk that flaps (a
    checkpoint frees a little room, the next write fills it) gives no stream of lines
    and no false all-clear. Never a traceback per write. ``on_error(store, reason)`` is
    called for each failed write that lost something (the gateway counts it).
    """

    def __init__(self, on_error: Callable[[str, str], None] | None = None,
                 log_every_s: float = 60.0, settle_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.on_error = on_error
        self.log_every_s = log_every_s
        self.settle_s = settle_s
        self.clock = clock
        self._lock = threading.Lock()
        self._stores: dict[str, _StoreHealth] = {}

    def failed(self, store: str, reason: str, why: str, means: str, *,
               counted: bool = True, path: str = "") -> None:
        now = self.clock()
        with self._lock:
            st = self._stores.setdefault(store, _StoreHealth())
            st.failing = True
            st.reason = reason
            st.failures += 1
            st.failed_at = now
            say = not st.announced or now - st.logged_at >= self.log_every_s
            if say:
                failures, st.failures = st.failures, 0
                st.logged_at = now
                st.announced = True
        if counted and self.on_error is not None:
            self.on_error(store, reason)
        if say:
            what = "state disk full" if reason == "disk_full" else "state disk error"
            log.error(f"{what}: the {store} cannot write ({why}); {means}",
                      extra={"store": store, "reason": reason, "path": path,
                             "failed_writes": failures,
                             "next_report_s": self.log_every_s})

    def ok(self, store: str) -> None:
        """A write of ``store`` committed (called on every commit: cheap when healthy)."""
        st = self._stores.get(store)
        if st is None or not (st.failing or st.announced):
            return
        with self._lock:
            st.failing = False
        self.tick()

    def tick(self) -> None:
        """Say which stores write again (settled); housekeeping calls it."""
        now = self.clock()
        recovered = []
        with self._lock:
            for name, st in self._stores.items():
                if st.announced and not st.failing and now - st.failed_at >= self.settle_s:
                    st.announced = False
                    recovered.append((name, st.failures))
                    st.failures = 0
        for name, failures in recovered:
            log.info(f"state disk writable again: the {name} stores again",
                     extra={"store": name, "failed_writes_since_last_report": failures})

    def failing(self, store: str) -> bool:
        st = self._stores.get(store)
        return st is not None and st.failing

    def degraded(self) -> dict[str, str]:
        """Stores failing now, or within the last ``settle_s`` -> reason."""
        now = self.clock()
        with self._lock:
            return {name: st.reason for name, st in self._stores.items()
                    if st.failing or now - st.failed_at < self.settle_s}


class Database:
    """A SQLite file shared by threads through one connection and a lock.

    ``name`` and ``means`` (what a failed write costs) go into the storage-error log
    line; ``health`` is shared by a gateway's stores (each store gets its own when None).
    """

    def __init__(self, path: str | Path, schema: str, max_bytes: int | None = None, *,
                 name: str = "store", means: str = "the write is lost",
                 health: StorageHealth | None = None) -> None:
        self.path = Path(path)
        self.name = name
        self.means = means
        self.health = health if health is not None else StorageHealth()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False,
                                     isolation_level=None, timeout=30)
        self.lock = threading.RLock()
        self._ckpt: sqlite3.Connection | None = None
        self._cap_pages: int | None = None
        with self.lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            # Checkpoints (which fsync) run from housekeeping, not in the committing thread.
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
            if max_bytes is not None:
                page = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
                self._cap_pages = max(16, max_bytes // page)
                self._conn.execute(f"PRAGMA max_page_count={self._cap_pages}")
            self._conn.executescript(schema)

    # -- the storage-error path ---------------------------------------------------
    def _classify(self, exc: sqlite3.Error) -> str | None:
        reason = storage_reason(exc)
        if reason == "disk_full" and self._cap_pages is not None:
            with suppress(sqlite3.Error):
                pages = int(self._conn.execute("PRAGMA page_count").fetchone()[0])
                if pages + _CAP_SLACK_PAGES >= self._cap_pages:
                    return "file_cap"  # our own bound, not the disk
        return reason

    def _rollback(self) -> None:
        # After SQLITE_FULL/IOERR SQLite may already have rolled back; a failed COMMIT
        # may leave the transaction open. Either way, leave no transaction behind.
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    def _storage_error(self, exc: sqlite3.Error, counted: bool) -> StorageError | None:
        reason = self._classify(exc)
        if reason is None:
            return None
        if reason != "file_cap":
            self.health.failed(self.name, reason, str(exc), self.means, counted=counted,
                               path=str(self.path))
        return StorageError(self.name, reason, str(exc))

    @contextmanager
    def tx(self, *, counted: bool = True) -> Iterator[sqlite3.Connection]:
        """One committed transaction (committed on exit, rolled back on error).

        Raises :class:`StorageError` when the disk refused it (``counted=False``: a
        retry of something already counted, e.g. flushing memory to disk)."""
        with self.lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._rollback()
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._rollback()
                err = self._storage_error(exc, counted)
                if err is None:
                    raise
                raise err from exc
        self.health.ok(self.name)

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return list(self._conn.execute(sql, args).fetchall())

    def checkpoint(self) -> bool:
        """Copy the WAL into the database (PASSIVE: never blocks writers) from a second
        connection, so the fsync it implies does not stall the thread that commits.

        False when the disk refused it (reported to the health, rate-limited; the WAL
        keeps the data and the next checkpoint tries again)."""
        if self._ckpt is None:
            self._ckpt = sqlite3.connect(str(self.path), check_same_thread=False,
                                         isolation_level=None, timeout=30)
        try:
            self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.OperationalError as exc:
            if self._storage_error(exc, counted=False) is None:
                raise
            return False
        return True

    def probe(self) -> bool:
        """While this store is failing, try one tiny real write (the header's
        ``user_version``) so it is seen writing again without waiting for traffic.
        True when the store writes (or was not failing)."""
        if not self.health.failing(self.name):
            return True
        try:
            with self.tx(counted=False) as c:
                version = int(c.execute("PRAGMA user_version").fetchone()[0])
                c.execute(f"PRAGMA user_version={(version + 1) % 1_000_000}")
        except StorageError:
            return False
        return True

    def limit_pages(self, pages: int | None) -> None:
        """Test seam: cap the file at ``pages`` pages (None: back to the store's own cap)
        so writes that need more fail with SQLITE_FULL, as on a full disk."""
        with self.lock:
            if pages is None:
                pages = self._cap_pages or 1073741823
            self._conn.execute(f"PRAGMA max_page_count={int(pages)}")

    def refuse_writes(self, refuse: bool) -> None:
        """Test seam: a disk that refuses every write (``PRAGMA query_only``: each write
        fails with SQLITE_READONLY, an ``io_error``), even one that needs no new page."""
        with self.lock:
            self._conn.execute(f"PRAGMA query_only={int(refuse)}")

    def page_count(self) -> int:
        with self.lock:
            return int(self._conn.execute("PRAGMA page_count").fetchone()[0])

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
