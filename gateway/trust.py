"""What the gateway believes of a message on the site broker: nothing unchecked. Pure.

The broker binds a device's topics to its username (``edgecascade site``: a device can
publish only on ``dev/<its id>/...``), and the gateway already rejects a report whose
payload id differs from its topic id. :class:`Trust` adds the checks that need memory,
all in-process, all O(1) per message, and none touching the ledger:

* **allowlist**: once a site is initialised (``site.json``), a report or birth from an id
  not on it (or revoked) is refused before it is decoded, so invented ids create no state;
* **per-device rate limit**: a token bucket per device (``rate_per_s`` sustained,
  ``burst`` deep: sized for the normal report rate plus a ring-buffer replay after a
  reconnect). A flooding device's excess is dropped and counted; the others never wait;
* **sequence-ahead rule**: within an epoch, a seq further past the highest accepted one
  than ``max_seq_ahead`` plus what the device could have counted since (``rate_per_s``
  times the seconds since that report) is refused, so forged far-future seqs cannot claim
  identities the real device will use later (the dedupe ledger would call the real frames
  duplicates). A device back from a long outage that overflowed its ring is within the
  allowance: it cannot have counted faster than it may report. Forgeries *inside* the
  window are the broker ACL's job (a device can publish only as itself);
* **rate-limited rejection logs**: the first refusal of each reason is logged at once,
  then at most one line per reason every ``log_every_s`` with the count suppressed.

The shell calls :meth:`Trust.admit_topic` before decoding, :meth:`Trust.admit_report`
after, :meth:`Trust.log_line` for every refusal, and :meth:`Trust.set_allowlist` when the
site registry changes (:func:`site_devices` reads it).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edgecascade.protocol import Report
from edgecascade.site import load_site

#: Reports per second per device the demo and the emulator send by default (5/s) times 4.
DEFAULT_RATE_PER_S = 20.0
#: Enough for a full ring replay (the firmware's 64 slots) on reconnect, with headroom.
DEFAULT_BURST = 100.0
#: Seqs allowed past the highest accepted one at once (ring replay + reordering).
DEFAULT_MAX_SEQ_AHEAD = 256
DEFAULT_MAX_TRACKED = 20_000

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

    def __post_init__(self) -> None:
        if not (self.rate_per_s > 0 and self.burst >= 1):
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        if self.max_seq_ahead < 1 or self.max_tracked < 1:
            raise ValueError("max_seq_ahead and max_tracked must be >= 1")


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
class _Device:
    tokens: float
    at: float
    epoch: int = -1
    top: int = -1  # highest accepted seq in ``epoch``
    top_at: float = 0.0  # when it was accepted


@dataclass
class _Quiet:
    last: float
    suppressed: int = 0


@dataclass
class Trust:
    settings: TrustSettings = field(default_factory=TrustSettings)
    _devices: OrderedDict[str, _Device] = field(default_factory=OrderedDict)
    _quiet: dict[str, _Quiet] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # by reason, since start

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
        """Before decoding: is ``device_id`` known, and within its rate?"""
        allow = self.settings.allowlist
        if allow is not None and device_id not in allow:
            return self._refuse(UNKNOWN_BIRTH if birth else UNKNOWN_DEVICE, device_id,
                                "not an identity of this site")
        if birth:
            return None
        dev = self._device(device_id, now)
        s = self.settings
        dev.tokens = min(s.burst, dev.tokens + (now - dev.at) * s.rate_per_s)
        dev.at = now
        if dev.tokens < 1.0:
            return self._refuse(RATE_LIMITED, device_id,
                                f"over {s.rate_per_s:g} reports/s (burst {s.burst:g})")
        dev.tokens -= 1.0
        return None

    def admit_report(self, report: Report, now: float) -> Refusal | None:
        """After decoding (ids already checked equal): the sequence-ahead rule."""
        dev = self._device(report.device_id, now)
        seq = report.seq
        if report.epoch != dev.epoch:
            if report.epoch < dev.epoch:
                return None  # an old epoch's frame: the ledger knows it; no new anchor
            dev.epoch, dev.top, dev.top_at = report.epoch, seq, now
            return None
        s = self.settings
        allowed = s.max_seq_ahead + int(max(0.0, now - dev.top_at) * s.rate_per_s)
        if seq <= dev.top + allowed:
            if seq > dev.top:
                dev.top, dev.top_at = seq, now
            return None
        return self._refuse(SEQ_AHEAD, report.device_id,
                            f"seq {seq} is more than {allowed} past {dev.top} "
                            f"in epoch {report.epoch}")

    def log_line(self, refusal: Refusal, now: float) -> LogLine | None:
        """The line to log for ``refusal``, or None while that reason is quiet."""
        q = self._quiet.get(refusal.reason)
        if q is not None and now - q.last < self.settings.log_every_s:
            q.suppressed += 1
            return None
        suppressed = q.suppressed if q is not None else 0
        self._quiet[refusal.reason] = _Quiet(now)
        return LogLine(logging.WARNING, "report rejected", {
            "reason": refusal.reason, "device_id": refusal.device_id[:64],
            "why": refusal.why[:200], "suppressed": suppressed,
            "total": self.refused.get(refusal.reason, 0)})

    @property
    def tracked(self) -> int:
        return len(self._devices)

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
