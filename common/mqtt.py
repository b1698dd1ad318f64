"""Broker connection settings and a paho-mqtt client factory, shared by every process.

One place decides how edgecascade talks to a broker: URL parsing (``mqtt://`` or
``mqtts://``), TLS with X.509 client certificates (AWS IoT Core), MQTT 3.1.1 by
default (what every broker we target speaks, amqtt included) or MQTT 5, and the
last will.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgecascade.errors import EdgecascadeError
from edgecascade.protocol.limits import MAX_CLIENT_ID_BYTES

DEFAULT_URL = "mqtt://127.0.0.1:1883"


class SettingsError(EdgecascadeError, ValueError):
    """A broker setting is wrong; ``path`` names it."""

    def __init__(self, path: str, why: str) -> None:
        self.path = path
        self.why = why
        super().__init__(f"{path}: {why}")


@dataclass(frozen=True)
class BrokerSettings:
    url: str = DEFAULT_URL
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive: int = 30
    mqtt5: bool = False

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("mqtt", "mqtts"):
            raise SettingsError("url", f"scheme must be mqtt:// or mqtts://, got {self.url!r}")
        if not parsed.hostname:
            raise SettingsError("url", f"no host in {self.url!r}")
        if (self.cert_file is None) != (self.key_file is None):
            raise SettingsError("cert_file", "cert_file and key_file go together")
        if not 5 <= self.keepalive <= 1200:
            raise SettingsError("keepalive", "must be between 5 and 1200 seconds")

    @property
    def host(self) -> str:
        return urlparse(self.url).hostname or ""

    @property
    def tls(self) -> bool:
        return urlparse(self.url).scheme == "mqtts"

    @property
    def port(self) -> int:
        parsed = urlparse(self.url)
        return parsed.port or (8883 if self.tls else 1883)


def tls_context(settings: BrokerSettings) -> ssl.SSLContext:
    """The client TLS context for ``settings``: CA bundle, then client certificate and key.

    A missing or unreadable file is a :class:`SettingsError` naming the setting and
    the file, never an ``ssl.SSLError`` traceback.
    """
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError("ca_file", _file_problem(settings.ca_file, "CA certificates",
                                                     exc)) from None
    if settings.cert_file and settings.key_file:
        try:
            context.load_cert_chain(settings.cert_file, settings.key_file)
        except (ssl.SSLError, OSError) as exc:
            raise SettingsError("cert_file", _file_problem(
                f"{settings.cert_file} and {settings.key_file}", "certificate and key",
                exc)) from None
    return context


def _file_problem(path: str | None, what: str, exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        why = exc.reason or exc.strerror or str(exc)
        return f"cannot load {path}: not valid PEM {what} ({why})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read {path}: {exc.strerror}"
    return f"cannot load {path}: {exc}"


def set_nodelay(sock: Any) -> None:
    """Disable Nagle's algorithm on an MQTT socket.

    paho leaves it on, so a publish that spans several TCP segments waits for the
    peer's delayed ACK (about 40 ms on Linux) before the rest is sent.
    """
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _on_socket_open(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    set_nodelay(sock)


def make_client(
    settings: BrokerSettings,
    client_id: str,
    *,
    clean_start: bool = True,
    will: tuple[str, bytes] | None = None,
    client_class: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    """A configured, not yet connected paho client.

    ``clean_start=False`` keeps a persistent session so QoS 1 messages sent while the
    client is away are delivered when it returns. ``will`` is (topic, payload),
    published retained at QoS 1 when the connection is lost. ``client_class``: a
    subclass of paho's client to build instead.
    """
    if not client_id or len(client_id.encode()) > MAX_CLIENT_ID_BYTES:
        raise SettingsError("client_id", f"must be 1..{MAX_CLIENT_ID_BYTES} bytes")
    if settings.mqtt5:
        client = client_class(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
    else:
        client = client_class(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_start,
            protocol=mqtt.MQTTv311,
        )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set_context(tls_context(settings))
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.on_socket_open = _on_socket_open  # TCP_NODELAY before CONNECT goes out
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    client.max_queued_messages_set(0)
    return client


def connect_properties(settings: BrokerSettings, clean_start: bool) -> dict[str, object]:
    """Keyword arguments for ``client.connect`` matching the session choice."""
    if not settings.mqtt5:
        return {}
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    if not clean_start:
        props.SessionExpiryInterval = 7 * 24 * 3600
    return {"clean_start": clean_start, "properties": props}


def creds_settings(path: str | Path, *, url: str | None = None, cloud: bool = False,
                   keepalive: int = 30) -> BrokerSettings:
    """Broker settings from a site credentials file (``<site>/creds/<name>.json``, written
    by ``edgecascade site init``: username, password, ca_file, url, cloud_url). ``url``
    overrides the file's broker URL. A file that cannot be used is a
    :class:`SettingsError` naming it (never its password)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        username, password = str(raw["username"]), str(raw["password"])
        ca_file = raw.get("ca_file")
        url = url or raw.get("cloud_url" if cloud else "url")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingsError("creds", f"{path}: not a usable site credentials file ({why})"
                            ) from None
    if not url:
        raise SettingsError("creds", f"{path}: no {'cloud ' if cloud else ''}broker URL in it")
    return BrokerSettings(str(url), username=username, password=password,
                          ca_file=str(ca_file) if ca_file else None, keepalive=keepalive)
