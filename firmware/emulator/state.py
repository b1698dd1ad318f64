"""Per-device persistent state (the emulator's NVS): session epoch, config revision.

One small JSON file holds every device of a fleet. Each start of a device takes
the next epoch, so (device, epoch, seq) never repeats across restarts. Without a
file, epochs come from the wall clock in seconds (unique per start unless two
starts of the same device id fall within one second).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any


class StateStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, int]] = {}
        if self.path is not None and self.path.exists():
            try:
                raw: Any = json.loads(self.path.read_text())
            except ValueError as exc:
                raise ValueError(f"{self.path}: not a device state file ({exc})") from None
            if isinstance(raw, dict):
                self._data = {
                    str(k): {kk: int(vv) for kk, vv in v.items() if isinstance(vv, int)}
                    for k, v in raw.items()
                    if isinstance(v, dict)
                }

    def next_epoch(self, device_id: str) -> int:
        """The epoch for this start of ``device_id``, persisted before it is used."""
        with self._lock:
            if self.path is None:
                return int(time.time()) & 0xFFFFFFFF
            entry = self._data.setdefault(device_id, {})
            epoch = (entry.get("epoch", 0) + 1) & 0xFFFFFFFF
            entry["epoch"] = epoch
            return epoch

    def config_revision(self, device_id: str) -> int:
        with self._lock:
            return self._data.get(device_id, {}).get("config_revision", 0)

    def remember(self, device_id: str, *, epoch: int, config_revision: int) -> None:
        with self._lock:
            if self.path is None:
                return
            entry = self._data.setdefault(device_id, {})
            entry["epoch"] = max(entry.get("epoch", 0), epoch)
            entry["config_revision"] = config_revision
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            text = json.dumps(self._data, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)
