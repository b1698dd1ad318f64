"""A secured site run as shipped, for the session and credential tests of issue 24.

``edgecascade site init`` files (TLS, no anonymous clients, per-identity ACLs,
``use_username_as_clientid``), both brokers running them, the gateway as its own process
started by its CLI (``python -m edgecascade.gateway``, so its start-up checks run too) with
the gateway's credentials, an observer with a ``monitor`` login, and device fleets that
log in with each device's own credentials (``site_credentials``, what ``edgecascade
devices --site-dir`` uses). ``account()`` holds every frame the devices made against the
results the observer saw.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from edgecascade.emulator.fleet import Fleet, site_credentials
from edgecascade.emulator.ledger import GroundTruth
from edgecascade.mqtt import creds_settings
from edgecascade.protocol import Topics, encode
from edgecascade.site import Identity, Site
from edgecascade.tools.broker import free_port
from edgecascade.tools.demo.observer import Observer
from edgecascade.tools.site.broker import SiteBrokers
from edgecascade.tools.site.store import Layout, SiteFolder
from tests.faults.rig import gateway_metrics, gateway_ready, wait_until

Key = tuple[str, int, int]


@dataclass
class SecureSite:
    tmp: Path
    topics: Topics
    devices: int = 6
    folder: SiteFolder = field(init=False)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    fleets: list[Fleet] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.device_ids = [f"d-{i:04d}" for i in range(self.devices)]
        self.folder = SiteFolder(self.tmp / "site")
        self.folder.init(Site(prefix=self.topics.prefix, gateway_id="gw1", identities=(
            Identity("gw1", "gateway"), Identity("obs", "monitor"),
            Identity("status", "dashboard"), *(Identity(d, "device") for d in self.device_ids),
        )), Layout(hosts=("localhost", "127.0.0.1"), site_port=free_port(),
                   cloud_port=free_port(), bind="127.0.0.1", broker_user="root"))
        self.brokers = SiteBrokers(self.folder, host="localhost")
        self.brokers.start()
        self.http_port = free_port()
        self.ledger = GroundTruth()
        self.observer = Observer(creds_settings(self.creds("obs"), url=self.brokers.site_url),
                                 self.topics, persistent=True).start()

    def creds(self, name: str) -> Path:
        return self.folder.creds_path(name)

    @property
    def config(self) -> Path:
        gw = self.folder.credentials("gw1")
        path = self.tmp / "gateway.toml"
        path.write_text(f"""
version = 1
gateway_id = "gw1"
prefix = "{self.topics.prefix}"
metrics_interval_s = 0.5
[broker]
url = "{self.brokers.site_url}"
username = "gw1"
ca_file = "{gw.ca_file}"
keepalive = 5
[cloud]
enabled = false
[storage]
state_dir = "{self.tmp / 'gateway-state'}"
[http]
port = {self.http_port}
[devices]
site_dir = "{self.folder.folder}"
""")
        return path

    def env(self) -> dict[str, str]:
        return {**os.environ, "EC_BROKER_PASSWORD": self.folder.credentials("gw1").password}

    # -- the gateway process ------------------------------------------------------------
    def start_gateway(self) -> None:
        log = (self.tmp / "gateway.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "edgecascade.gateway",
                                 "--config", str(self.config)],
                                stdout=subprocess.DEVNULL, stderr=log, env=self.env())
        self.procs["gateway"] = proc
        wait_until(lambda: self._ready(proc), 90, "gateway /readyz")

    def _ready(self, proc: subprocess.Popen[bytes]) -> bool:
        return gateway_ready(proc, self.http_port, self.log_tail)

    def kill_gateway(self, sig: int) -> None:
        proc = self.procs.pop("gateway")
        proc.send_signal(sig)
        proc.wait(60)

    def log_text(self) -> str:
        path = self.tmp / "gateway.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def metrics(self) -> dict[str, float]:
        return gateway_metrics(self.http_port)

    # -- devices, each with its own login ---------------------------------------------------
    def fleet(self, rate: float, reports: int, count: int | None = None) -> Fleet:
        login, _, _ = site_credentials(self.folder.folder, self.brokers.site_url)
        fleet = Fleet(login(self.device_ids[0]), self.topics, count or self.devices, rate,
                      id_prefix="d", reports=reports, ledger=self.ledger,
                      state_file=self.tmp / "devices-state.json", credentials=login)
        self.fleets.append(fleet)
        return fleet.start()

    def wait_sent(self, fleet: Fleet, timeout: float = 120) -> None:
        total = (fleet.reports or 0) * len(fleet.devices)
        wait_until(lambda: fleet.stats.acked + fleet.stats.dropped >= total, timeout,
                   f"{total} reports acknowledged ({fleet.stats.summary()})")

    def missing(self) -> tuple[list[Key], list[Key]]:
        """(frames made but never answered, frames with two different final answers)."""
        _, seen = self.observer.snapshot()
        finals: dict[Key, set[bytes]] = defaultdict(set)
        for s in seen:
            if s.result.revision == 0:
                finals[s.result.key].add(encode(s.result))
        keys = [k for k, _ in self.ledger.items()]
        return ([k for k in keys if not finals.get(k)],
                [k for k in keys if len(finals.get(k, ())) > 1])

    def wait_all_answered(self, timeout: float = 60) -> int:
        try:
            wait_until(lambda: not self.missing()[0], timeout, "every frame answered", 0.25)
        except AssertionError as exc:
            lost, _ = self.missing()
            raise AssertionError(f"{exc}: {len(lost)} lost {lost[:5]}\n{self.log_tail()}"
                                 ) from None
        return len(list(self.ledger.items()))

    def close(self) -> None:
        for fleet in self.fleets:
            fleet.stop(drain_timeout=5)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.observer.stop()
        self.brokers.stop()


def run_status(site: SecureSite, *args: str) -> subprocess.CompletedProcess[str]:
    """``edgecascade status --config <the gateway's config> ...`` as an operator runs it
    (the gateway's password is in the environment, as it would be on the gateway host)."""
    return subprocess.run([sys.executable, "-m", "edgecascade.cli", "status", "--config",
                           str(site.config), *args], capture_output=True, text=True,
                          env=site.env(), timeout=60)
