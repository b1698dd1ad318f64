"""What the gateway believes of a message on the site broker: nothing unchecked. Pure.

The broker binds a device's topics to its username (``edgecascade site``: a device can
publish only on ``dev/<its id>/...``), and the gateway already rejects a report whose
payload id differs from its topic id. :class:`Trust` adds the checks that need memory,
all in-process, all O(1) per message, and none touching the ledger:

* **allowlist**: once a site is initialised (``site.json``), a report or birth from an id
  not on it (or revoked) is refused before it is decoded, so invented ids create no state;
* **sequence credit** (the rate of *new* frames): within an epoch, a report that advances
  the device's highest accepted seq spends one credit per seq it advances. Credit
  accrues at ``rate_per_s`` per second of time passed -- wall time since the device's
  last report, or, for a backlog the broker held while the gateway (or its link) was
  away, the device's own clock: the time between the two reports' ``ts_ms`` (never past
  the gateway's clock plus ``CLOCK_SKEW_MS``, and at most ``device_gap_s`` per step) --
  and at most ``max_seq_ahead`` is kept over. So a backlog queued at the device's
  normal rate is admitted in full however fast the broker delivers it, while a flooding
  device or a forger stepping the seq forward gets at most ``max_seq_ahead`` seqs at
  once and ``rate_per_s`` per second after that (twice that at most, for a forger who
  plays its timestamps against our clock), whatever the step per message (a device
  whose counter runs faster than that is refused until time has paid for the seqs it ran
  ahead). A refusal is ``report:rate_limited`` (a stream too fast: within
  ``max_seq_ahead`` of the seq it sent before) or ``report:seq_ahead`` (one jump further);
* **replay rate**: a report that does not advance the seq (a duplicate, a ring replay, a
  late frame) costs the ledger a lookup but no credit; a token bucket per device
  (``rate_per_s``, ``burst`` deep) bounds those, refused as ``report:rate_limited``;
* **rate-limited logs** (:class:`QuietLog`): the first line of each reason is logged at
  once, then at most one every ``log_every_s`` with the count suppressed.

Each epoch keeps its own book (the last few epochs per device), so a forged next epoch
does not lift the rule for the device's current one. The first report of an epoch the
gateway has no book for anchors it; at start the books are seeded from the ledger
(:meth:`Trust.seed`), so a restart does not let a forger anchor a known epoch anywhere.

The shell calls :meth:`Trust.admit_topic` before decoding, :meth:`Trust.admit_report`
after, :meth:`Trust.log_line` for every refusal, and :meth:`Trust.set_allowlist` when the
site registry changes (:func:`site_devices` reads it).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edgecascade.protocol import Report
from edgecascade.site import load_site

#: Reports per second per device the demo and the emulator send by default (5/s) times 4.
DEFAULT_RATE_PER_S = 20.0
#: Non-advancing reports (replays, duplicates) at once: a full ring replay, with headroom.
DEFAULT_BURST = 100.0
#: Seqs a device may advance at once beyond its rate (ring replay + reordering).
DEFAULT_MAX_SEQ_AHEAD = 256
DEFAULT_MAX_TRACKED = 20_000
#: How far ahead of the gateway's clock a device's ``ts_ms`` is believed.
CLOCK_SKEW_MS = 5_000
#: Most device-clock time one report may credit (a backlog's reports are a period apart).
DEFAULT_DEVICE_GAP_S = 600.0
#: Epoch books kept per device (the current one, the previous ones' stragglers).
EPOCHS_KEPT = 4

#: Where mosquitto publishes its error-level log lines (``log_dest topic``); among them
#: the line it logs when an identity connects while already connected.
BROKER_LOG_TOPIC = "$SYS/broker/log/E"
_TAKEOVER = re.compile(rb"Client (\S{1,128}) already connected, closing old connection")

UNKNOWN_DEVICE = "report:unknown_device"
UNKNOWN_BIRTH = "state:unknown_device"
RATE_LIMITED = "report:rate_limited"
SEQ_AHEAD = "report:seq_ahead"


@dataclass(frozen=True)
class TrustSettings:
    rate_per_s: float = DEFAULT_RATE_PER_S
    burst: float = DEFAULT_BURST
    max_seq_ahead: int = DEFAULT_MAX_SEQ_AHEAD
    allowlist: frozenset[str] | None = None  # None: any id (no site initialised)
    log_every_s: float = 10.0
    max_tracked: int = DEFAULT_MAX_TRACKED  # devices remembered (least recent forgotten)
    device_gap_s: float = DEFAULT_DEVICE_GAP_S

    def __post_init__(self) -> None:
        if not (self.rate_per_s > 0 and self.burst >= 1):
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        if self.max_seq_ahead < 1 or self.max_tracked < 1:
            raise ValueError("max_seq_ahead and max_tracked must be >= 1")
        if not self.device_gap_s >= 0:
            raise ValueError("device_gap_s must be >= 0")


@dataclass(frozen=True)
class Refusal:
    """Why a message was not admitted: ``reason`` is the ``rejected{reason}`` label."""

    reason: str
    device_id: str
    why: str


@dataclass(frozen=True)
class LogLine:
    level: int
    message: str
    extra: dict[str, object]


@dataclass
class _Book:
    """One epoch of one device: its highest accepted seq and its sequence credit."""

    top: int
    credit: float
    at: float  # gateway monotonic time of the last credit update
    device_ms: int  # highest device timestamp seen (bounded by the gateway's clock)
    seen: int = -1  # highest seq seen, refused ones included (names a refusal)


@dataclass
class _Device:
    tokens: float  # the replay bucket
    at: float
    books: OrderedDict[int, _Book] = field(default_factory=OrderedDict)


@dataclass
class _Quiet:
    last: float
    suppressed: int = 0


@dataclass
class QuietLog:
    """At most one line per key every ``every_s``; the next says how many were held back."""

    every_s: float = 10.0
    _quiet: dict[str, _Quiet] = field(default_factory=dict)

    def due(self, key: str, now: float) -> int | None:
        """The suppressed count to log now, or None while ``key`` is quiet."""
        q = self._quiet.get(key)
        if q is not None and now - q.last < self.every_s:
            q.suppressed += 1
            return None
        self._quiet[key] = _Quiet(now)
        return q.suppressed if q is not None else 0


@dataclass
class Trust:
    settings: TrustSettings = field(default_factory=TrustSettings)
    _devices: OrderedDict[str, _Device] = field(default_factory=OrderedDict)
    _quiet: QuietLog | None = None
    refused: dict[str, int] = field(default_factory=dict)  # by reason, since start

    def __post_init__(self) -> None:
        if self._quiet is None:
            self._quiet = QuietLog(self.settings.log_every_s)

    def set_allowlist(self, devices: frozenset[str] | None) -> None:
        """Adopt a new allowlist (None: any id); revoked devices' state is forgotten."""
        self.settings = TrustSettings(**{**self.settings.__dict__, "allowlist": devices})
        if devices is not None:
            # Called from the housekeeping thread while reports arrive on the network
            # thread: list() copies the keys atomically, pop() tolerates a concurrent evict.
            for gone in [d for d in list(self._devices) if d not in devices]:
                self._devices.pop(gone, None)

    def admit_topic(self, device_id: str, now: float, *, birth: bool = False
                    ) -> Refusal | None:
        """Before decoding: is ``device_id`` an identity of this site?"""
        allow = self.settings.allowlist
        if allow is not None and device_id not in allow:
            return self._refuse(UNKNOWN_BIRTH if birth else UNKNOWN_DEVICE, device_id,
                                "not an identity of this site")
        if not birth:
            self._device(device_id, now)
        return None

    def seed(self, device_id: str, epoch: int, top: int, now: float) -> None:
        """Where a device's sequence stood before a restart (the ledger's highest seq),
        so a restarted gateway does not let the first report of an epoch anchor it
        anywhere. Its clock is not known yet: the first report may credit at most
        ``device_gap_s`` of it (a device that was away as long as the gateway)."""
        allow = self.settings.allowlist
        if allow is not None and device_id not in allow:
            return
        dev = self._device(device_id, now)
        dev.books[epoch] = _Book(top, float(self.settings.max_seq_ahead), now, 0)
        while len(dev.books) > EPOCHS_KEPT:
            dev.books.popitem(last=False)

    def admit_report(self, report: Report, now: float, wall_ms: int | None = None
                     ) -> Refusal | None:
        """After decoding (ids already checked equal): the sequence credit and the replay
        bucket. ``now``: monotonic seconds; ``wall_ms``: the gateway's clock at receipt
        (bounds what the device's ``ts_ms`` may credit; None: the report's own)."""
        s = self.settings
        dev = self._device(report.device_id, now)
        ts = report.ts_ms if wall_ms is None else min(report.ts_ms, wall_ms + CLOCK_SKEW_MS)
        book = dev.books.get(report.epoch)
        if book is None:  # the first report of this epoch we see anchors its book
            dev.books[report.epoch] = _Book(report.seq, float(s.max_seq_ahead), now, ts)
            while len(dev.books) > EPOCHS_KEPT:
                dev.books.popitem(last=False)
            return None
        if report.seq <= book.top:
            return self._replay(dev, report, now)
        advance = report.seq - book.top
        device_s = min(max(0, ts - book.device_ms) / 1000.0, s.device_gap_s)
        avail = book.credit + max(now - book.at, device_s) * s.rate_per_s
        book.at, book.device_ms = now, max(book.device_ms, ts)
        if advance > avail:
            # a stream running too fast, or one report jumping far ahead of the last
            step = report.seq - max(book.top, book.seen)
            book.seen = max(book.seen, report.seq)
            reason = RATE_LIMITED if step <= s.max_seq_ahead else SEQ_AHEAD
            # A stream keeps what time paid towards its next seq (it is admitted again
            # once the time passed covers the seqs it ran ahead); a jump keeps no more
            # than the usual credit.
            keep = max(float(s.max_seq_ahead), advance if reason == RATE_LIMITED else 0)
            book.credit = min(avail, keep)
            return self._refuse(reason, report.device_id,
                                f"seq {report.seq} is {advance} past {book.top} in epoch "
                                f"{report.epoch}; {avail:.0f} allowed at {s.rate_per_s:g}/s")
        book.credit = min(float(s.max_seq_ahead), avail - advance)
        book.top = report.seq
        return None

    def _replay(self, dev: _Device, report: Report, now: float) -> Refusal | None:
        s = self.settings
        dev.tokens = min(s.burst, dev.tokens + (now - dev.at) * s.rate_per_s)
        dev.at = now
        if dev.tokens < 1.0:
            return self._refuse(RATE_LIMITED, report.device_id,
                                f"old seqs again over {s.rate_per_s:g}/s (burst {s.burst:g})")
        dev.tokens -= 1.0
        return None

    def log_line(self, refusal: Refusal, now: float) -> LogLine | None:
        """The line to log for ``refusal``, or None while that reason is quiet."""
        assert self._quiet is not None
        suppressed = self._quiet.due(refusal.reason, now)
        if suppressed is None:
            return None
        return LogLine(logging.WARNING, "report rejected", {
            "reason": refusal.reason, "device_id": refusal.device_id[:64],
            "why": refusal.why[:200], "suppressed": suppressed,
            "total": self.refused.get(refusal.reason, 0)})

    @property
    def tracked(self) -> int:
        return len(self._devices)

    @property
    def quiet(self) -> QuietLog:
        """The rate limiter of the gateway's warning lines (every kind keyed apart)."""
        assert self._quiet is not None
        return self._quiet

    def knows(self, device_id: str) -> bool:
        """Whether ``device_id`` has reported lately (an open site's notion of a device)."""
        return device_id in self._devices

    def _device(self, device_id: str, now: float) -> _Device:
        dev = self._devices.get(device_id)
        if dev is None:
            dev = self._devices[device_id] = _Device(self.settings.burst, now)
            while len(self._devices) > self.settings.max_tracked:
                self._devices.popitem(last=False)
        else:
            self._devices.move_to_end(device_id)
        return dev

    def _refuse(self, reason: str, device_id: str, why: str) -> Refusal:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        return Refusal(reason, device_id, why)


def taken_over(line: bytes) -> str | None:
    """The client id in mosquitto's "Client X already connected, closing old connection."
    log line (a second connection with X's identity: with ``use_username_as_clientid``
    the client id is the username), else None."""
    m = _TAKEOVER.search(line[:512])
    return m.group(1).decode(errors="replace") if m else None


class _DeviceRules(Protocol):  # gateway.config.DevicesConfig (config imports this module)
    @property
    def allowlist(self) -> tuple[str, ...]: ...
    @property
    def site_dir(self) -> str: ...
    @property
    def rate_per_s(self) -> float: ...
    @property
    def burst(self) -> float: ...
    @property
    def max_seq_ahead(self) -> int: ...


def allowlist_of(devices: _DeviceRules) -> frozenset[str] | None:
    """Who may report: the site's active devices when a site is set, else the config's
    allowlist, else anyone (None)."""
    if devices.site_dir:
        return site_devices(devices.site_dir)
    return frozenset(devices.allowlist) or None


def trust_for(devices: _DeviceRules) -> Trust:
    """The gateway's trust state from its ``[devices]`` config."""
    return Trust(TrustSettings(rate_per_s=devices.rate_per_s, burst=devices.burst,
                               max_seq_ahead=devices.max_seq_ahead,
                               allowlist=allowlist_of(devices)))


def site_devices(folder: str | Path) -> frozenset[str]:
    """The active device ids of the site registry in ``folder`` (``SiteError`` if none)."""
    return load_site(folder).devices
