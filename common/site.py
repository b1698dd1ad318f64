"""The site registry: who may speak on a secured site broker, and as what. Pure data.

``edgecascade site init`` (``tools/site``) writes ``site.json`` in the site folder; the
gateway reads the same file for its device allowlist (a device not in it, or revoked, is
refused before it can create any state). The file holds names and roles only, never a
secret: passwords live hashed in the broker's password file and in clear only in the
identity's own credentials file (``creds/<name>.json``, mode 0600).

Roles (what each may do is rendered into the broker ACL by ``tools/site/acl.py``):

* ``device``: publish its own report and state, read its own config.
* ``gateway``: read every device's report and state; publish results, device config,
  its own state and metrics; on the cloud broker: publish requests, read responses.
* ``dashboard``: read results, gateway state and metrics, device state. Never frames.
* ``monitor``: a dashboard that also reads reports, frames included (the demo's observer,
  an operator's audit tool): give it only to whom the frames may be shown.
* ``worker``: on the cloud broker: read requests, publish responses, its own state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgecascade.errors import EdgecascadeError
from edgecascade.protocol import validate_id
from edgecascade.protocol.errors import ProtocolError
from edgecascade.protocol.topics import DEFAULT_PREFIX, Topics

REGISTRY_FILE = "site.json"
#: ``maintainer``: clears what retired devices and gateways left retained (``edgecascade
#: site retire-device --creds``); it reads nothing and publishes no frames or results.
ROLES = ("device", "gateway", "dashboard", "monitor", "worker", "maintainer")
#: Who has an account on the site broker, and on the cloud broker.
SITE_ROLES = ("device", "gateway", "dashboard", "monitor", "maintainer")
CLOUD_ROLES = ("gateway", "worker")
FORMAT_VERSION = 1


class SiteError(EdgecascadeError, ValueError):
    """The site registry is missing, malformed, or an identity change is not allowed."""


@dataclass(frozen=True)
class Identity:
    name: str  # the broker username (and the device id for a device)
    role: str
    revoked: bool = False

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise SiteError(f"identity {self.name!r}: role must be one of {ROLES}")
        try:
            validate_id(self.name, "identity")
        except ProtocolError as exc:
            raise SiteError(f"identity {self.name!r}: {exc.why}") from None


@dataclass(frozen=True)
class Site:
    prefix: str = DEFAULT_PREFIX
    gateway_id: str = "gw1"
    identities: tuple[Identity, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        try:
            Topics(self.prefix)
            validate_id(self.gateway_id, "gateway_id")
        except ProtocolError as exc:
            raise SiteError(exc.why) from None
        names = [i.name for i in self.identities]
        if len(set(names)) != len(names):
            raise SiteError("identity names must be unique")

    def get(self, name: str) -> Identity | None:
        return next((i for i in self.identities if i.name == name), None)

    def active(self, role: str) -> tuple[Identity, ...]:
        return tuple(i for i in self.identities if i.role == role and not i.revoked)

    @property
    def devices(self) -> frozenset[str]:
        """The device ids allowed to report (revoked ones excluded)."""
        return frozenset(i.name for i in self.active("device"))

    def add(self, name: str, role: str) -> Site:
        """A site with ``name`` added; a revoked device may come back (new credentials)."""
        old = self.get(name)
        if old is not None and not (old.revoked and old.role == role):
            raise SiteError(f"identity {name!r} already exists (role {old.role})")
        rest = tuple(i for i in self.identities if i.name != name)
        return replace(self, identities=(*rest, Identity(name, role)))

    def revoke(self, name: str) -> Site:
        old = self.get(name)
        if old is None:
            raise SiteError(f"no identity {name!r} on this site")
        return replace(self, identities=tuple(
            replace(i, revoked=True) if i.name == name else i for i in self.identities))

    def to_json(self) -> str:
        return json.dumps({
            "version": FORMAT_VERSION, "prefix": self.prefix, "gateway_id": self.gateway_id,
            "identities": [{"name": i.name, "role": i.role, "revoked": i.revoked}
                           for i in self.identities],
        }, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = REGISTRY_FILE) -> Site:
        try:
            raw = json.loads(text)
            if raw.get("version") != FORMAT_VERSION:
                raise SiteError(f"{where}: version must be {FORMAT_VERSION}")
            ids = tuple(Identity(str(i["name"]), str(i["role"]), bool(i.get("revoked", False)))
                        for i in raw["identities"])
            return cls(prefix=str(raw["prefix"]), gateway_id=str(raw["gateway_id"]),
                       identities=ids)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, SiteError):
                raise
            raise SiteError(f"{where}: malformed site registry ({exc})") from None


def load_site(folder: str | Path) -> Site:
    path = Path(folder) / REGISTRY_FILE
    try:
        text = path.read_text()
    except OSError as exc:
        raise SiteError(f"{path}: cannot read the site registry ({exc.strerror})") from None
    return Site.from_json(text, str(path))
