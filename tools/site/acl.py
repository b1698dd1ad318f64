"""Render a site's mosquitto 2 files: broker config, password file, ACL file. Pure.

Why a password file + ACL file and not the dynamic security plugin: both ship with
Debian's mosquitto 2.0.11, but the files are declarative, generated whole from
``site.json`` by one command, reviewable in a diff, and need no admin identity on the
broker (dynamic security needs a ``$CONTROL`` admin client and keeps its state in a JSON
file the broker rewrites). Revocation is a rewrite plus SIGHUP, which mosquitto applies to
every new connection.

Identities are bound to the **username** (checked against the password file) and
``use_username_as_clientid`` makes the client id the username too, so no client can
choose an id to match someone else's ACL (``%c`` patterns) or take over another's session.
The ACL names each user explicitly (no ``pattern`` lines, which would apply to every user).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from edgecascade.gateway.discovery import DEFAULT_DISCOVERY_PREFIX
from edgecascade.gateway.trust import BROKER_LOG_TOPIC
from edgecascade.protocol import Topics
from edgecascade.protocol.jsonview import default_json_root
from edgecascade.site import CLOUD_ROLES, SITE_ROLES, Identity, Site

#: mosquitto 2's password hash: PBKDF2-SHA512, 101 iterations, 12-byte salt ("$7$").
PBKDF2_ITERATIONS = 101


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A mosquitto 2 password-file hash (what ``mosquitto_passwd`` writes)."""
    salt = os.urandom(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return (f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}$"
            f"{base64.b64encode(digest).decode()}")


def _dashboard_views(t: Topics, gateway_id: str) -> tuple[list[str], list[str]]:
    """(what the gateway writes, what a dashboard reads) of the JSON view and Home
    Assistant discovery, at their default roots (``<prefix>/json``, ``homeassistant``): a
    gateway configured with other roots needs these lines edited to match."""
    j, ha = default_json_root(t.prefix), DEFAULT_DISCOVERY_PREFIX
    writes = [f"topic write {j}/res/+", f"topic write {j}/dev/+/state",
              f"topic write {j}/dev/+/last", f"topic write {j}/gw/{gateway_id}/state",
              f"topic write {j}/gw/{gateway_id}/metrics",
              f"topic write {ha}/+/+/+/config",
              f"topic read {ha}/status"]  # HA's birth message: discovery sent again
    reads = [f"topic read {j}/#", f"topic read {ha}/#",
             f"topic write {ha}/status"]  # Home Assistant announces itself there
    return writes, reads


def _retired_topics(t: Topics) -> list[str]:
    """What ``site retire-device`` / ``retire-gateway`` clear (write-only: an empty
    retained payload deletes a retained message)."""
    p, j, ha = t.prefix, default_json_root(t.prefix), DEFAULT_DISCOVERY_PREFIX
    return [f"topic write {p}/dev/+/state", f"topic write {p}/dev/+/config",
            f"topic write {p}/gw/+/state", f"topic write {p}/gw/+/metrics",
            f"topic write {j}/dev/+/state", f"topic write {j}/dev/+/last",
            f"topic write {j}/gw/+/state", f"topic write {j}/gw/+/metrics",
            f"topic write {ha}/+/+/+/config"]


def _site_rules(ident: Identity, t: Topics, gateway_id: str) -> list[str]:
    p = t.prefix
    view_writes, view_reads = _dashboard_views(t, gateway_id)
    if ident.role == "device":
        d = ident.name
        return [f"topic write {t.device_report(d)}", f"topic write {t.device_state(d)}",
                f"topic read {t.device_config(d)}"]
    if ident.role == "gateway":
        return [f"topic read {p}/dev/+/report", f"topic read {p}/dev/+/state",
                f"topic write {p}/dev/+/config", f"topic write {p}/res/+",
                f"topic readwrite {t.gateway_state(gateway_id)}",
                f"topic readwrite {t.gateway_metrics(gateway_id)}",
                # the broker's error log: "Client X already connected" (identity takeovers)
                f"topic read {BROKER_LOG_TOPIC}", *view_writes]
    if ident.role in ("dashboard", "monitor"):
        return [f"topic read {p}/res/+", f"topic read {p}/gw/+/state",
                f"topic read {p}/gw/+/metrics", f"topic read {p}/dev/+/state",
                *([f"topic read {p}/dev/+/report"] if ident.role == "monitor" else []),
                *view_reads]
    if ident.role == "maintainer":
        return _retired_topics(t)
    return []  # workers have no business on the site broker


def _cloud_rules(ident: Identity, t: Topics, gateway_id: str) -> list[str]:
    p = t.prefix
    if ident.role == "gateway":
        return [f"topic write {t.cloud_request(gateway_id)}",
                f"topic read {t.cloud_response(gateway_id)}"]
    if ident.role == "worker":
        return [f"topic read {p}/cloud/req/+", f"topic write {p}/cloud/res/+",
                f"topic readwrite {t.worker_state(ident.name)}"]
    return []


def render_acl(site: Site, cloud: bool) -> str:
    """The ACL file of the site broker (``cloud=False``) or the cloud broker."""
    topics = Topics(site.prefix)
    rules = _cloud_rules if cloud else _site_rules
    out = ["# Generated by `edgecascade site`; edit site.json through the tool, not this file.",
           "# No anonymous clients and no pattern lines: every rule names its user."]
    for ident in site.identities:
        lines = [] if ident.revoked else rules(ident, topics, site.gateway_id)
        if lines:
            out += ["", f"user {ident.name}", *lines]
    return "\n".join(out) + "\n"


def members(site: Site, cloud: bool) -> tuple[Identity, ...]:
    """Who has an account on that broker (revoked identities have none)."""
    roles = CLOUD_ROLES if cloud else SITE_ROLES
    return tuple(i for i in site.identities if i.role in roles and not i.revoked)


@dataclass(frozen=True)
class BrokerFiles:
    """Where one broker's files live, and how it listens."""

    folder: Path
    port: int
    bind: str = "0.0.0.0"

    @property
    def conf(self) -> Path:
        return self.folder / "mosquitto.conf"

    @property
    def passwd(self) -> Path:
        return self.folder / "passwd"

    @property
    def acl(self) -> Path:
        return self.folder / "acl"

    @property
    def cert(self) -> Path:
        return self.folder / "server.crt"

    @property
    def key(self) -> Path:
        return self.folder / "server.key"

    @property
    def pid_file(self) -> Path:
        return self.folder / "mosquitto.pid"


def render_conf(files: BrokerFiles, ca_file: Path, *, run_as: str | None = None) -> str:
    """mosquitto.conf: one TLS listener, no anonymous access, identities from the files."""
    f = files
    return "\n".join([
        "# Generated by `edgecascade site init`. See docs/security.md.",
        *([f"user {run_as}"] if run_as else []),
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {f.passwd}",
        f"acl_file {f.acl}",
        f"pid_file {f.pid_file}",
        f"listener {f.port} {f.bind}",
        f"cafile {ca_file}",
        f"certfile {f.cert}",
        f"keyfile {f.key}",
        "tls_version tlsv1.2",
        "require_certificate false",
        "use_username_as_clientid true",
        f"log_dest file {f.folder / 'mosquitto.log'}",
        # also to $SYS/broker/log/<level>: the gateway (alone, by the ACL) reads the error
        # level, where a second connection with a connected identity is reported
        "log_dest topic",
        "log_type error", "log_type warning", "log_type notice",
        "connection_messages true",
        "set_tcp_nodelay true",
        "persistence true",
        f"persistence_location {f.folder}/",
        "max_queued_messages 200000",
        "max_inflight_messages 200",
    ]) + "\n"
