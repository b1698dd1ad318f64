"""A throwaway secured site for ``edgecascade demo --secure`` and the flood benchmark.

Makes a site folder (``edgecascade site init`` underneath) with one identity per
emulated device, starts both brokers with the shipped configs, and hands out each
party's :class:`BrokerSettings` (username, password, site CA) by name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgecascade.config import BrokerSection
from edgecascade.mqtt import BrokerSettings
from edgecascade.site import Identity, Site

from ..broker import free_port
from .broker import SiteBrokers
from .store import Layout, SiteFolder


@dataclass
class SecureSite:
    folder: SiteFolder
    brokers: SiteBrokers

    @property
    def site_url(self) -> str:
        return self.brokers.site_url

    @property
    def cloud_url(self) -> str:
        return self.brokers.cloud_url

    def settings(self, name: str, url: str | None = None) -> BrokerSettings:
        """``name``'s settings for ``url`` (default: its own broker); mqtt:// becomes mqtts://."""
        creds = self.folder.credentials(name)
        target = url or creds.url or creds.cloud_url or ""
        if target.startswith("mqtt://"):
            target = "mqtts://" + target[len("mqtt://"):]
        return BrokerSettings(target, username=creds.username, password=creds.password,
                              ca_file=creds.ca_file)

    def described(self) -> tuple[tuple[str, str], tuple[str, str]]:
        kind = "mosquitto, shipped secure config (TLS, no anonymous, per-identity ACLs)"
        return (self.site_url, kind), (self.cloud_url, kind)

    def stop(self) -> None:
        self.brokers.stop()


def start_secure_site(workdir: Path, *, prefix: str, gateway_id: str, worker_id: str,
                      dashboard: str, devices: Sequence[str]) -> SecureSite:
    """Make the site in ``workdir`` and start both brokers on free loopback ports."""
    folder = SiteFolder(workdir)
    site = Site(prefix=prefix, gateway_id=gateway_id, identities=(
        Identity(gateway_id, "gateway"), Identity(worker_id, "worker"),
        Identity(dashboard, "monitor"), *(Identity(d, "device") for d in devices)))
    folder.init(site, Layout(hosts=("127.0.0.1", "localhost"), site_port=free_port(),
                             cloud_port=free_port(), bind="127.0.0.1",
                             broker_user="root" if os.geteuid() == 0 else None))
    brokers = SiteBrokers(folder)
    brokers.start()
    return SecureSite(folder, brokers)



#: The demo's identities (``tools/demo/runner.py`` uses the same names).
GATEWAY, WORKER, OBSERVER = "demo-gw", "demo-worker-1", "demo-observer"


def demo_site(workdir: Path, prefix: str, devices: int) -> SecureSite:
    """The demo's secured site: its gateway, worker, observer and ``demo-NNNN`` devices."""
    return start_secure_site(workdir, prefix=prefix, gateway_id=GATEWAY, worker_id=WORKER,
                             dashboard=OBSERVER, devices=[f"demo-{i:04d}" for i in range(devices)])


def login(secure: SecureSite | None, name: str, url: str) -> BrokerSettings:
    """``name``'s settings on a secured site, or plain ``url`` settings without one."""
    return secure.settings(name, url) if secure is not None else BrokerSettings(url)


def login_section(secure: SecureSite | None, name: str, url: str) -> BrokerSection:
    """A config ``[broker]`` section for ``name`` at ``url`` (plain without a site)."""
    if secure is None:
        return BrokerSection(url=url)
    s = secure.settings(name, url)
    return BrokerSection(url=s.url, username=s.username, password=s.password, ca_file=s.ca_file)
