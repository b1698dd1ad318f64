"""A frame's key and what the ledger knows of it: the vocabulary the SQLite ledger
(:mod:`.ledger`, :mod:`.sessions`) and the pure core (:mod:`.core`, :mod:`.effects`)
share. Plain values, no I/O: the core reads them without importing the stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

Key = tuple[str, int, int]  # (device_id, epoch, seq)


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
