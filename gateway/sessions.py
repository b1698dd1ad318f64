"""Device sessions in the frame ledger: an epoch that goes backwards starts a new one.

A report whose epoch is below the device's highest is a wiped board (settings erased:
epoch 1, seq 0 again) -- or a device whose stolen credential was used to claim a higher
epoch: a new session. Its answered frames from that epoch on are moved aside
(``superseded``, kept as long as any frame: the ledger's ``keep`` window) so the new
frames, which reuse their keys, are answered and not taken for duplicates; a report
whose key *and* bytes (``digest``) match a moved-aside frame is still that old frame
(a replay) and stays a duplicate. Nothing is deleted before its normal retention.

Everything here runs inside the :class:`~.ledger.Ledger`'s transactions (its
connection, under its lock); this module owns the ``superseded`` rows, the frames'
``digest`` column and the highest epoch seen per device.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3

from .db import Database
from .frame_state import FrameState, Key, Status

log = logging.getLogger("edgecascade.gateway.ledger")

SCHEMA = """
CREATE TABLE IF NOT EXISTS superseded (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    digest BLOB NOT NULL,
    revision INTEGER NOT NULL,
    cloud_done INTEGER NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS superseded_key ON superseded (device_id, epoch, seq);
"""

#: Bytes of a report's digest (blake2b): tells a replayed old frame from a new one.
DIGEST_BYTES = 8


def report_digest(payload: bytes) -> bytes:
    """What identifies a report's bytes in the ledger (a replay has the same)."""
    return hashlib.blake2b(payload, digest_size=DIGEST_BYTES).digest()


class Sessions:
    """The session rule of one ledger database. Call under the database's lock."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._top: dict[str, int] = {}  # highest epoch admitted per device (cache)
        with db.lock:
            columns = {str(r[1]) for r in db.query("PRAGMA table_info(frames)")}
            if "digest" not in columns:  # a ledger from before digests: add the column
                with db.tx(counted=False) as c:
                    c.execute("ALTER TABLE frames ADD COLUMN digest BLOB")
            # devices with frames moved aside (only theirs pay the replay lookup)
            self._superseded = {str(r[0]) for r in db.query(
                "SELECT DISTINCT device_id FROM superseded")}

    def forget(self, device: str) -> None:
        """The transaction that saw this device was refused: look its epoch up again."""
        self._top.pop(device, None)

    def replayed(self, c: sqlite3.Connection, key: Key, digest: bytes | None
                 ) -> FrameState | None:
        """A frame moved aside by a session change, if this report is it again."""
        if digest is None or key[0] not in self._superseded:
            return None
        row = c.execute("SELECT revision, cloud_done, received_ms FROM superseded WHERE "
                        "device_id=? AND epoch=? AND seq=? AND digest=?",
                        (*key, digest)).fetchone()
        if row is None:
            return None
        return FrameState(Status.SENT, int(row[0]), bool(row[1]), int(row[2]))

    def begin(self, c: sqlite3.Connection, key: Key) -> int | None:
        """Inside the admitting transaction: an epoch below the device's highest starts
        a new session. Its answered frames from that epoch on are moved aside, not
        deleted (replays of them stay duplicates); frames still owed an answer are kept
        (a colliding new frame is then a duplicate until they are answered). Returns the
        epoch a new session starts at (the caller forgets its own answered frames from
        it on), else None."""
        device, epoch, _ = key
        top = self._top.get(device)
        started = None
        if top is None:
            row = c.execute("SELECT MAX(epoch) FROM frames WHERE device_id=?", (device,))
            top = row.fetchone()[0]
            top = epoch if top is None else int(top)
        if epoch < top:
            where = "device_id=? AND epoch>=? AND status=? AND digest IS NOT NULL"
            args = (device, epoch, int(Status.SENT))
            c.execute("INSERT OR REPLACE INTO superseded (id, device_id, epoch, seq, digest,"
                      " revision, cloud_done, received_ms) SELECT id, device_id, epoch, seq,"
                      f" digest, revision, cloud_done, received_ms FROM frames WHERE {where}",
                      args)
            c.execute("DELETE FROM frames WHERE device_id=? AND epoch>=? AND status=?", args)
            self._superseded.add(device)
            log.info("epoch went backwards: new session",
                     extra={"device_id": device, "epoch": epoch, "was": top})
            started = top = epoch
        self._top[device] = max(top, epoch)
        return started

    def oldest(self) -> int | None:
        """The lowest frame id moved aside (they share the frames' retention window)."""
        low = self.db.query("SELECT MIN(id) FROM superseded")[0][0]
        return int(low) if low is not None else None

    def prune(self, c: sqlite3.Connection, low: int, high: int) -> None:
        """Inside a prune transaction: forget moved-aside frames in this id range."""
        c.execute("DELETE FROM superseded WHERE id BETWEEN ? AND ?", (low, high))
