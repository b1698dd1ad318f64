"""A virtual device in serial mode: COBS-framed reports out, provisioning lines in.

The device side of a serial line (a pty master in tests, any file descriptor in
general) is driven by one thread: frames go out at ``rate`` Hz unless provisioning
has paused reports; bytes coming in are provisioning lines, answered on the same
line. Output waits in a bounded buffer when the other side does not read; a frame
that does not fit is dropped and counted (``stats.dropped``), never blocking the
device. Settings persist to a JSON file on ``EC COMMIT`` and take effect at the
next boot (``EC REBOOT`` or a new ``SerialDevice``), like the firmware.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from edgecascade.protocol.framing import encode_frame

from .core import DeviceCore
from .device import FW_VERSION, now_ms
from .ledger import GroundTruth
from .model import FrameSource, device_thresholds
from .policy import Thresholds
from .provisioning import KEYS, Provisioning, Settings
from .state import StateStore

log = logging.getLogger(__name__)

#: Bytes of framed output held while the reader is slow or absent.
OUT_BUFFER_BYTES = 64 * 1024


@dataclass
class SerialStats:
    made: int = 0
    written: int = 0
    dropped: int = 0
    attached: int = 0
    lines_answered: int = 0
    boots: int = 0
    errors: int = 0


def load_settings(path: Path | None) -> Settings:
    """Settings from storage; keys absent or invalid there keep their default (empty)."""
    settings = Settings()
    if path is None or not path.is_file():
        return settings
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        log.warning("settings storage unreadable", extra={"path": str(path)})
        return settings
    if isinstance(raw, dict):
        for key in KEYS:
            value = raw.get(key)
            if isinstance(value, str):
                settings.restore(key, value)
    return settings


def save_settings(path: Path | None, settings: Settings) -> bool:
    if path is None:
        return True
    try:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(settings.values, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        return False
    return True


class SerialDevice:
    def __init__(
        self,
        fd: int,
        source: FrameSource,
        *,
        rate: float = 1.0,
        storage: str | Path | None = None,
        default_device_id: str = "emu-serial",
        thresholds: Thresholds | None = None,
        ledger: GroundTruth | None = None,
        state: StateStore | None = None,
        fw_version: str = FW_VERSION,
    ) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self.source = source
        self.rate = rate
        self.storage = Path(storage) if storage is not None else None
        self.default_device_id = default_device_id
        self.default_thresholds = thresholds if thresholds is not None else device_thresholds()
        self.ledger = ledger
        self.state = state if state is not None else StateStore()
        self.fw_version = fw_version
        self.stats = SerialStats()
        self._out = bytearray()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._boot()

    def _boot(self) -> None:
        """What the firmware does at power-on: load settings, new epoch, seq 0."""
        settings = load_settings(self.storage)
        device_id = settings.get("device_id") or self.default_device_id
        th = settings.thresholds()
        thresholds = self.default_thresholds
        if th is not None:
            try:
                thresholds = Thresholds(*th)
            except ValueError:
                log.warning("stored thresholds out of range; defaults kept")
        self.core = DeviceCore(device_id, self.source, self.state.next_epoch(device_id),
                               thresholds)
        self.state.save()
        self.provisioning = Provisioning(settings, self.fw_version,
                                         lambda s: save_settings(self.storage, s))
        self.stats.boots += 1

    # -- thread ---------------------------------------------------------------------
    def start(self) -> SerialDevice:
        self._thread = threading.Thread(target=self._run, name="serial-device", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        period = 1.0 / self.rate if self.rate > 0 else None
        next_due = time.monotonic()
        while not self._halt.is_set():
            now = time.monotonic()
            timeout = 0.2 if period is None else max(0.0, min(0.2, next_due - now))
            want_write = [self.fd] if self._out else []
            try:
                readable, writable, _ = select.select([self.fd], want_write, [], timeout)
            except (OSError, ValueError):
                break  # the fd was closed under us: the board lost power
            if readable and not self._read():
                break
            if writable or self._out:
                self._flush()
            now = time.monotonic()
            if period is not None and now >= next_due:
                next_due = max(next_due + period, now - period)
                if not self.provisioning.is_paused(now):
                    try:
                        self._report()
                    except Exception:  # counted and logged; the device keeps running
                        self.stats.errors += 1
                        log.exception("serial device report failed")

    def _read(self) -> bool:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return True
        except OSError:
            return False  # the other side hung up for good (EIO on a pty)
        if not data:
            return True
        for answer in self.provisioning.feed(data, time.monotonic()):
            self.stats.lines_answered += 1
            self._queue(answer)
        if self.provisioning.reboot_requested:
            self._flush()
            self._boot()
        return True

    def _report(self) -> None:
        made = self.core.next_report(now_ms())
        self.stats.made += 1
        self.stats.attached += int(made.attached)
        if not self._queue(encode_frame(made.payload)):
            self.stats.dropped += 1
        else:
            self.stats.written += 1
        if self.ledger is not None:
            self.ledger.record(self.core.device_id, made.report.epoch, made.report.seq,
                               made.label, made.index)

    def _queue(self, data: bytes) -> bool:
        if len(self._out) + len(data) > OUT_BUFFER_BYTES:
            return False
        self._out += data
        self._flush()
        return True

    def _flush(self) -> None:
        while self._out:
            try:
                n = os.write(self.fd, self._out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._out.clear()  # nobody can ever read it: the line is gone
                return
            del self._out[:n]


@dataclass
class PtyPair:
    """A pseudo-terminal standing in for a USB serial cable (tests, demos).

    ``master`` is the device end; ``path`` is what a host opens (a stable symlink
    when ``link`` is given, like ``/dev/serial/by-id/...``). ``unplug()`` makes the
    port disappear; ``plug()`` brings a new one back at the same ``link``.
    """

    link: Path | None = None
    master: int = -1
    slave: int = -1
    tty_path: str = ""

    def plug(self) -> PtyPair:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line editing: a raw byte pipe
        self.tty_path = os.ttyname(self.slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            if tmp.is_symlink():
                tmp.unlink()
            tmp.symlink_to(self.tty_path)
            os.replace(tmp, self.link)
        return self

    @property
    def path(self) -> str:
        return str(self.link) if self.link is not None else self.tty_path

    def unplug(self) -> None:
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
        for fd in (self.master, self.slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.slave = -1
