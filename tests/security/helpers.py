"""A connected MQTT identity for the security tests: publish, subscribe, collect, barrier."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from edgecascade.mqtt import BrokerSettings, make_client
from edgecascade.tools.site.store import Credentials

WAIT_S = 10.0


class Refused(Exception):
    """The broker refused the CONNECT (the reason code is the message)."""


@dataclass
class Peer:
    client: mqtt.Client
    name: str
    got: list[tuple[str, bytes, bool]] = field(default_factory=list)
    granted: dict[int, list[int]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    @classmethod
    def connect(cls, creds: Credentials, *, cloud: bool = False, password: str | None = None,
                client_id: str | None = None) -> Peer:
        url = creds.cloud_url if cloud else creds.url
        assert url is not None, f"{creds.name} has no account on that broker"
        settings = BrokerSettings(url, username=creds.username,
                                  password=creds.password if password is None else password,
                                  ca_file=creds.ca_file)
        return cls.connect_settings(settings, client_id or f"{creds.name}-{uuid.uuid4().hex[:6]}",
                                    creds.name)

    @classmethod
    def connect_settings(cls, settings: BrokerSettings, client_id: str, name: str) -> Peer:
        client = make_client(settings, client_id)
        peer = cls(client, name)
        result: list[object] = []
        done = threading.Event()

        def on_connect(c: mqtt.Client, u: object, flags: object, rc: object, p: object) -> None:
            result.append(rc)
            done.set()

        client.on_connect = on_connect
        client.on_message = peer._on_message
        client.on_subscribe = peer._on_subscribe
        client.on_disconnect = lambda *a: done.set()
        client.reconnect_delay_set(60, 60)  # a refused peer must not retry in the background
        client.connect_async(settings.host, settings.port)
        client.loop_start()
        if not done.wait(WAIT_S) or not result or getattr(result[0], "is_failure", True):
            client.loop_stop()
            client.disconnect()
            raise Refused(str(result[0]) if result else "no CONNACK")
        return peer

    def _on_message(self, c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.got.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def _on_subscribe(self, c: mqtt.Client, u: object, mid: int, rcs: list, p: object) -> None:
        with self._cond:
            self.granted[mid] = [int(r.value) for r in rcs]
            self._cond.notify_all()

    def subscribe(self, *filters: str) -> list[int]:
        """Subscribe and wait for the SUBACK; the granted codes (0x80: refused)."""
        _rc, mid = self.client.subscribe([(f, 1) for f in filters])
        with self._cond:
            assert self._cond.wait_for(lambda: mid in self.granted, WAIT_S), "no SUBACK"
            return self.granted[mid]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(WAIT_S)

    def wait_for(self, topic: str, payload: bytes | None = None) -> list[tuple[str, bytes, bool]]:
        """Wait until ``topic`` (with ``payload``) arrives: a barrier; return all seen so far."""
        def seen() -> bool:
            return any(t == topic and (payload is None or p == payload) for t, p, _ in self.got)
        with self._cond:
            assert self._cond.wait_for(seen, WAIT_S), f"{self.name} never got {topic}: {self.got}"
            return list(self.got)

    def topics_seen(self) -> set[str]:
        with self._cond:
            return {t for t, _, _ in self.got}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def refused_soon(connect: object, timeout: float = WAIT_S) -> bool:
    """Whether ``connect()`` is refused within ``timeout`` (a broker applies SIGHUP async)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            peer = connect()  # type: ignore[operator]
        except Refused:
            return True
        peer.close()
        time.sleep(0.1)
    return False
