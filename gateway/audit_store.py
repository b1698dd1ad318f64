"""The audit sample: frames of a uniform random share of reports, kept for recalibration.

The reports :func:`edgecascade.protocol.audit.audit_pick` selects (the device attaches
the frame of a selected confident report; an unsure report always carries its frame)
are a uniform random sample of the site's traffic at ``audit_share``. Their frames, with
what the device reported, are kept here (SQLite, ``<state_dir>/audit_frames.sqlite``,
the newest ``keep`` rows) so that ``edgecascade models calibrate --from-audit
STATE_DIR`` can refit the thresholds on the field's own distribution, with the cloud
model's answers as labels. Bounded: older rows are deleted as new ones come; a write the
disk refuses is counted (``storage_errors{store="audit"}``) and dropped, never raised.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edgecascade.protocol import Frame, Report

FILE = "audit_frames.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    model_id TEXT NOT NULL, model_version INTEGER NOT NULL,
    classes TEXT NOT NULL, confidences TEXT NOT NULL, complexity REAL,
    data BLOB NOT NULL, shape TEXT NOT NULL, dtype TEXT NOT NULL, scale REAL NOT NULL,
    zero_point INTEGER NOT NULL, share INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
    UNIQUE (device_id, epoch, seq)
);
CREATE TABLE IF NOT EXISTS cloud_pending (
    device_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    edge_label INTEGER NOT NULL, model_version INTEGER NOT NULL,
    PRIMARY KEY (device_id, epoch, seq)
)"""


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


@dataclass(frozen=True)
class AuditFrame:
    report: Report  # with its frame
    share: int  # the audit share (1/65536) it was sampled at


class AuditStore:
    def __init__(self, path: str | Path, keep: int = 5000,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.keep = keep
        self.on_error = on_error
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._added = 0

    def add(self, report: Report, share: int) -> bool:
        """Keep one sampled report's frame; False when the disk refused it (counted)."""
        f = report.frame
        if f is None:
            return False
        row = (report.device_id, report.epoch, report.seq, report.model_id,
               report.model_version, ",".join(map(str, report.classes)),
               ",".join(map(str, report.confidences)), report.complexity, f.data,
               ",".join(map(str, f.shape)), f.dtype, f.scale, f.zero_point, share,
               report.ts_ms)
        try:
            with self._lock:
                self._db.execute(
                    "INSERT OR IGNORE INTO audit (device_id, epoch, seq, model_id, "
                    "model_version, classes, confidences, complexity, data, shape, dtype, "
                    "scale, zero_point, share, ts_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    row)
                self._added += 1
                if self._added % 100 == 0:
                    self._db.execute("DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit)"
                                     " - ?", (self.keep,))
        except sqlite3.Error as exc:
            if self.on_error is not None:
                self.on_error(type(exc).__name__)
            return False
        return True

    # -- cloud audits in flight: kept so that a reply after a restart is still known as an
    # audit (it must never reach the core, where it would become a correction)
    def add_pending(self, key: tuple[str, int, int], edge_label: int, model_version: int
                    ) -> bool:
        try:
            with self._lock:
                self._db.execute("INSERT OR REPLACE INTO cloud_pending VALUES (?,?,?,?,?)",
                                 (*key, edge_label, model_version))
        except sqlite3.Error as exc:
            if self.on_error is not None:
                self.on_error(type(exc).__name__)
            return False
        return True

    def drop_pending(self, key: tuple[str, int, int]) -> None:
        try:
            with self._lock:
                self._db.execute("DELETE FROM cloud_pending WHERE device_id=? AND epoch=? "
                                 "AND seq=?", key)
        except sqlite3.Error as exc:
            if self.on_error is not None:
                self.on_error(type(exc).__name__)

    def pending(self) -> dict[tuple[str, int, int], tuple[int, int]]:
        with self._lock:
            rows = self._db.execute("SELECT device_id, epoch, seq, edge_label, model_version "
                                    "FROM cloud_pending").fetchall()
        return {(r[0], int(r[1]), int(r[2])): (int(r[3]), int(r[4])) for r in rows}

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def frames(self) -> Iterator[AuditFrame]:
        """Every kept frame, oldest first (the newest ``keep``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT device_id, epoch, seq, model_id, model_version, classes, confidences, "
                "complexity, data, shape, dtype, scale, zero_point, share, ts_ms FROM audit "
                "ORDER BY id DESC LIMIT ?", (self.keep,)).fetchall()
        for r in reversed(rows):
            frame = Frame(bytes(r[8]), _ints(r[9]), r[10], float(r[11]), int(r[12]))
            yield AuditFrame(Report(r[0], int(r[1]), int(r[2]), int(r[14]), r[3], int(r[4]),
                                    _ints(r[5]), _ints(r[6]), frame, r[7]), int(r[13]))

    def close(self) -> None:
        with self._lock:
            self._db.close()
