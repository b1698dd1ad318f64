"""A site folder on disk: make it, add, revoke and rotate identities, reload the brokers.

Layout (``<site>`` is the folder given to ``edgecascade site init``)::

    <site>/site.json              who is on the site (names and roles, no secrets)
    <site>/layout.json            hosts and ports of the two brokers
    <site>/ca/ca.crt, ca.key      the site CA (ca.key 0600: keep it offline after init)
    <site>/broker/                the site broker: mosquitto.conf, passwd, acl, TLS pair
    <site>/cloud-broker/          the cloud broker (gateway <-> workers), same files
    <site>/creds/<name>.json      one identity's username, password, CA, URLs (0600)

A password is generated here, hashed into the broker password files, and written in clear
only to ``creds/<name>.json``; it is never logged or printed unless asked (``--print``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

from edgecascade.site import CLOUD_ROLES, REGISTRY_FILE, SITE_ROLES, Site, SiteError, load_site

from .acl import BrokerFiles, hash_password, members, render_acl, render_conf
from .pki import make_ca, make_server_cert


@dataclass(frozen=True)
class Layout:
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    site_port: int = 8883
    cloud_port: int = 8884
    bind: str = "0.0.0.0"
    broker_user: str | None = None  # mosquitto's `user` option; None: its default

    def url(self, cloud: bool) -> str:
        return f"mqtts://{self.hosts[0]}:{self.cloud_port if cloud else self.site_port}"


@dataclass(frozen=True)
class Credentials:
    name: str
    role: str
    username: str
    password: str
    ca_file: str
    url: str | None  # the site broker (devices, dashboards, the gateway)
    cloud_url: str | None  # the cloud broker (the gateway, workers)

    def __repr__(self) -> str:  # never show the password by accident
        return f"Credentials(name={self.name!r}, role={self.role!r}, password=***)"


class SiteFolder:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).resolve()

    @property
    def ca_crt(self) -> Path:
        return self.folder / "ca" / "ca.crt"

    def broker(self, cloud: bool) -> BrokerFiles:
        lay = self.layout()
        return BrokerFiles(self.folder / ("cloud-broker" if cloud else "broker"),
                           lay.cloud_port if cloud else lay.site_port, lay.bind)

    def creds_path(self, name: str) -> Path:
        return self.folder / "creds" / f"{name}.json"

    def site(self) -> Site:
        return load_site(self.folder)

    def layout(self) -> Layout:
        raw = json.loads((self.folder / "layout.json").read_text())
        return Layout(hosts=tuple(raw["hosts"]), site_port=int(raw["site_port"]),
                      cloud_port=int(raw["cloud_port"]), bind=str(raw["bind"]),
                      broker_user=raw.get("broker_user"))

    def credentials(self, name: str) -> Credentials:
        return Credentials(**json.loads(self.creds_path(name).read_text()))

    # -- making ------------------------------------------------------------------------
    def init(self, site: Site, layout: Layout) -> list[Credentials]:
        """Make the folder, the CA, both brokers' files and every identity's credentials."""
        if (self.folder / REGISTRY_FILE).exists():
            raise SiteError(f"{self.folder} already holds a site; add identities instead")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "layout.json").write_text(json.dumps(asdict(layout), indent=2) + "\n")
        ca_crt, ca_key = make_ca(self.folder / "ca")
        for cloud in (False, True):
            files = self.broker(cloud)
            files.folder.mkdir(parents=True, exist_ok=True)
            make_server_cert(ca_crt, ca_key, files.cert, files.key, layout.hosts)
            files.conf.write_text(render_conf(files, ca_crt, run_as=layout.broker_user))
        self._save(site, {})
        return [self._issue(site, i.name) for i in site.identities]

    def add(self, name: str, role: str) -> Credentials:
        site = self.site().add(name, role)
        return self._issue(site, name)

    def rotate(self, name: str) -> Credentials:
        site = self.site()
        ident = site.get(name)
        if ident is None or ident.revoked:
            raise SiteError(f"no active identity {name!r} to rotate")
        return self._issue(site, name)

    def revoke(self, name: str) -> None:
        site = self.site().revoke(name)
        self._save(site, {})
        self.creds_path(name).unlink(missing_ok=True)

    def _issue(self, site: Site, name: str) -> Credentials:
        ident = site.get(name)
        assert ident is not None
        password = secrets.token_urlsafe(24)
        lay = self.layout()
        on_site = ident.role in SITE_ROLES
        on_cloud = ident.role in CLOUD_ROLES
        creds = Credentials(name, ident.role, name, password, str(self.ca_crt),
                            lay.url(False) if on_site else None,
                            lay.url(True) if on_cloud else None)
        self._save(site, {name: hash_password(password)})
        path = self.creds_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(creds), out, indent=2)
            out.write("\n")
        return creds

    def _save(self, site: Site, new_hashes: dict[str, str]) -> None:
        """Write site.json and both brokers' password and ACL files from ``site``."""
        (self.folder / REGISTRY_FILE).write_text(site.to_json())
        for cloud in (False, True):
            files = self.broker(cloud)
            hashes = _read_passwd(files.passwd)
            hashes.update(new_hashes)
            keep = [i.name for i in members(site, cloud) if i.name in hashes]
            _write_private(files.passwd, "".join(f"{n}:{hashes[n]}\n" for n in keep))
            files.acl.write_text(render_acl(site, cloud))

    # -- running brokers ---------------------------------------------------------------
    def reload(self) -> list[int]:
        """SIGHUP each running broker of this site (mosquitto rereads passwd and acl)."""
        done = []
        for cloud in (False, True):
            pid_file = self.broker(cloud).pid_file
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGHUP)
                done.append(pid)
        return done


def _read_passwd(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        name, sep, digest = line.partition(":")
        if sep:
            out[name] = digest
    return out


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
