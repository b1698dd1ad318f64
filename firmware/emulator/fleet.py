"""A fleet of virtual devices in this process: the library surface the demo calls.

    fleet = Fleet(BrokerSettings(url), Topics(), count=100, rate=1.0)
    fleet.start(); ...; fleet.stop()
    fleet.stats      # FleetStats: made, sent, acked, attached, dropped, ...
    fleet.ledger     # GroundTruth: (device, epoch, seq) -> label

Devices are split over a few driver threads (one selector each). Every device
shares one :class:`FrameSource`, so each distinct frame is inferred once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecascade.mqtt import BrokerSettings, SettingsError, creds_settings
from edgecascade.protocol import Topics, validate_id
from edgecascade.site import SiteError, load_site

from .core import DeviceCore
from .device import DEFAULT_RING_CAPACITY, DEFAULT_WINDOW, DeviceStats, VirtualDevice
from .driver import Driver
from .ledger import GroundTruth
from .model import FrameSource, device_thresholds
from .policy import Thresholds
from .state import StateStore

#: Devices per driver thread.
DEVICES_PER_DRIVER = 500


@dataclass
class FleetStats(DeviceStats):
    devices: int = 0
    connected: int = 0
    buffered: int = 0
    inflight: int = 0
    driver_errors: int = 0

    @property
    def attached_share(self) -> float:
        return self.attached / self.made if self.made else 0.0

    @property
    def delivered_share(self) -> float:
        return self.acked / self.made if self.made else 0.0

    def summary(self) -> str:
        return (
            f"devices={self.devices} made={self.made} sent={self.sent} acked={self.acked} "
            f"delivered={self.delivered_share:.4f} attached_share={self.attached_share:.3f} "
            f"buffered={self.buffered} inflight={self.inflight} dropped={self.dropped} "
            f"config_applied={self.config_applied} config_rejected={self.config_rejected} "
            f"connects={self.connects} disconnects={self.disconnects}"
        )


def site_credentials(site_dir: str | Path, url: str | None = None
                     ) -> tuple[Callable[[str], BrokerSettings], BrokerSettings, str]:
    """Per-device logins from a site folder (``edgecascade site init``): a function from a
    device id to its own broker settings (``<site>/creds/<id>.json``), the site broker
    without a login (its URL -- ``url`` overrides it -- and CA: to check it answers) and
    the site's topic prefix. A device not on the site, or without a credentials file, is
    a :class:`SettingsError` naming it."""
    folder = Path(site_dir)
    try:
        site = load_site(folder)
    except SiteError as exc:
        raise SettingsError("site_dir", str(exc)) from None
    first = next(iter(sorted(site.devices)), None)
    if first is None:
        raise SettingsError("site_dir", f"{folder}: the site has no active device")
    some = creds_settings(folder / "creds" / f"{first}.json", url=url)
    site_url = some.url

    def login(device_id: str) -> BrokerSettings:
        if device_id not in site.devices:
            raise SettingsError("site_dir", f"{device_id!r} is not an active device of the "
                                            f"site in {folder}")
        return creds_settings(folder / "creds" / f"{device_id}.json", url=site_url)

    return login, BrokerSettings(site_url, ca_file=some.ca_file), site.prefix


class Fleet:
    def __init__(
        self,
        settings: BrokerSettings,
        topics: Topics,
        count: int,
        rate: float,
        *,
        id_prefix: str = "emu",
        first: int = 0,
        reports: int | None = None,
        source: FrameSource | None = None,
        thresholds: Thresholds | None = None,
        ledger: GroundTruth | None = None,
        state_file: str | Path | None = None,
        ring_capacity: int = DEFAULT_RING_CAPACITY,
        window: int = DEFAULT_WINDOW,
        per_driver: int = DEVICES_PER_DRIVER,
        credentials: Callable[[str], BrokerSettings] | None = None,  # per-device identity
    ) -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        if not math.isfinite(rate) or rate < 0:
            raise ValueError("rate must be a finite number >= 0")
        self.settings = settings
        self.topics = topics
        self.rate = rate
        self.reports = reports
        self.source = source if source is not None else FrameSource()
        self.thresholds = (thresholds if thresholds is not None
                           else device_thresholds(self.source.workload.thresholds_path))
        self.ledger = ledger if ledger is not None else GroundTruth()
        self.state = StateStore(state_file)
        self.devices: list[VirtualDevice] = []
        for i in range(first, first + count):
            device_id = validate_id(f"{id_prefix}-{i:04d}", "device_id")
            core = DeviceCore(
                device_id, self.source, self.state.next_epoch(device_id), self.thresholds,
                config_revision=self.state.config_revision(device_id),
            )
            self.devices.append(VirtualDevice(
                core, credentials(device_id) if credentials else settings, topics,
                ledger=self.ledger, state=self.state,
                ring_capacity=ring_capacity, window=window,
            ))
        self.state.save()
        self.drivers = [
            Driver(self.devices[i : i + per_driver], rate, reports=reports,
                   name=f"emulator-driver-{i // per_driver}")
            for i in range(0, count, per_driver)
        ]
        self.started_at: float | None = None

    def start(self) -> Fleet:
        self.started_at = time.monotonic()
        for driver in self.drivers:
            driver.start()
        return self

    def stop(self, drain_timeout: float = 15.0, *, crash: bool = False) -> FleetStats:
        """Stop reporting, wait for outstanding PUBACKs (bounded), disconnect."""
        for driver in self.drivers:
            driver.stop(drain_timeout, crash=crash)
        for driver in self.drivers:
            driver.join(drain_timeout + 10.0)
        self.ledger.flush()
        return self.stats

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stats(self) -> FleetStats:
        out = FleetStats(devices=len(self.devices))
        for d in self.devices:
            out.add(d.stats)
            out.connected += int(d.connected)
            out.buffered += len(d.ring)
            out.inflight += len(d.inflight)
        out.driver_errors = sum(dr.errors for dr in self.drivers)
        return out

    def wait(self, predicate: Any, timeout: float, poll: float = 0.05) -> bool:
        """Wait until ``predicate(stats)`` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.stats):
                return True
            time.sleep(poll)
        return bool(predicate(self.stats))
