"""Ground truth, kept on the emulator's side and never in a payload.

Each report the emulator makes is recorded as (device, epoch, seq) -> (label, frame
index). Joining final results with this ledger gives end-to-end accuracy. The ledger
is in memory and, optionally, appended to an SQLite file (``.db``/``.sqlite``) or a
CSV file (any other suffix), flushed in batches and on ``close()``.
"""

from __future__ import annotations

import csv
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

Key = tuple[str, int, int]


@dataclass(frozen=True)
class Truth:
    label: int
    index: int


class _Keyed(Protocol):
    @property
    def key(self) -> Key: ...

    @property
    def label(self) -> int: ...


@dataclass(frozen=True)
class Accuracy:
    joined: int
    correct: int
    unmatched: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.joined if self.joined else 0.0


class GroundTruth:
    """Thread-safe ledger: many driver threads record, anyone reads."""

    def __init__(self, path: str | Path | None = None, *, flush_every: int = 1000) -> None:
        self.path = Path(path) if path is not None else None
        self.flush_every = flush_every
        self._lock = threading.Lock()
        self._truth: dict[Key, Truth] = {}
        self._pending: list[tuple[str, int, int, int, int]] = []
        self._db: sqlite3.Connection | None = None
        if self.path is not None and self.path.suffix in (".db", ".sqlite", ".sqlite3"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS truth (device_id TEXT NOT NULL, epoch INTEGER NOT NULL,"
                " seq INTEGER NOT NULL, label INTEGER NOT NULL, frame_index INTEGER NOT NULL,"
                " PRIMARY KEY (device_id, epoch, seq))"
            )
            self._db.commit()
        elif self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self.path.write_text("device_id,epoch,seq,label,frame_index\n")

    def record(self, device_id: str, epoch: int, seq: int, label: int, index: int) -> None:
        with self._lock:
            self._truth[(device_id, epoch, seq)] = Truth(label, index)
            if self.path is not None:
                self._pending.append((device_id, epoch, seq, label, index))
                if len(self._pending) >= self.flush_every:
                    self._flush_locked()

    def get(self, key: Key) -> Truth | None:
        with self._lock:
            return self._truth.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._truth)

    def items(self) -> list[tuple[Key, Truth]]:
        with self._lock:
            return list(self._truth.items())

    def score(self, results: Iterable[_Keyed]) -> Accuracy:
        """Join final answers (anything with ``key`` and ``label``) with the truth.

        When a frame has several answers (corrections), the last one given counts.
        """
        final: dict[Key, int] = {}
        for r in results:
            final[r.key] = r.label
        joined = correct = unmatched = 0
        with self._lock:
            for key, label in final.items():
                truth = self._truth.get(key)
                if truth is None:
                    unmatched += 1
                    continue
                joined += 1
                correct += int(truth.label == label)
        return Accuracy(joined, correct, unmatched)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        if self._db is not None:
            self._db.executemany("INSERT OR REPLACE INTO truth VALUES (?, ?, ?, ?, ?)", rows)
            self._db.commit()
        elif self.path is not None:
            with self.path.open("a", newline="") as fh:
                csv.writer(fh).writerows(rows)

    def close(self) -> None:
        with self._lock:
            self._flush_locked()
            if self._db is not None:
                self._db.close()
                self._db = None

    @classmethod
    def load(cls, path: str | Path) -> GroundTruth:
        """Read a ledger file written earlier (SQLite or CSV) into memory."""
        path = Path(path)
        ledger = cls()
        if path.suffix in (".db", ".sqlite", ".sqlite3"):
            with sqlite3.connect(path) as db:
                rows = list(db.execute(
                    "SELECT device_id, epoch, seq, label, frame_index FROM truth"))
        else:
            with path.open(newline="") as fh:
                reader = csv.reader(fh)
                next(reader, None)
                rows = [(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in reader if r]
        for device_id, epoch, seq, label, index in rows:
            ledger._truth[(device_id, int(epoch), int(seq))] = Truth(int(label), int(index))
        return ledger
