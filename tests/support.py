"""Helpers for tests that talk to a real broker: a collecting subscriber and a publisher.

On a mismatch, print decoded messages (``Collector.decoded``), not bytes.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgecascade.protocol import ProtocolError, WireMessage, decode


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int


@dataclass
class Collector:
    """Subscribes to ``filters`` and keeps every message it receives."""

    host: str
    port: int
    filters: Iterable[str]
    qos: int = 1
    client_id: str = field(default_factory=lambda: f"collector-{uuid.uuid4().hex[:8]}")
    messages: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a, **k: self._subscribed.set()
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("collector did not subscribe within 10 s")

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object,
                    props: object = None) -> None:
        client.subscribe([(f, self.qos) for f in self.filters])

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0,
                 where: Callable[[Received], bool] | None = None) -> list[Received]:
        """Wait until ``count`` matching messages arrived; return them (or fail with a dump)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.messages if where is None or where(m)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} messages, got {len(got)}: {self.describe()}"
                    )
                self._cond.wait(left)

    def decoded(self, cls: type[WireMessage]) -> list[WireMessage]:
        return [decode(cls, m.payload) for m in self.messages]

    def describe(self, limit: int = 10) -> str:
        lines = []
        for m in self.messages[-limit:]:
            lines.append(f"{m.topic} retain={m.retain} {describe_payload(m.payload)}")
        return "\n".join(lines) or "(nothing received)"

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def describe_payload(payload: bytes) -> str:
    """A decoded view of any edgecascade payload, for assertion messages."""
    from edgecascade.protocol import MESSAGE_TYPES

    for cls in MESSAGE_TYPES.values():
        try:
            return repr(decode(cls, payload).to_plain())
        except ProtocolError:
            continue
    return f"<{len(payload)} undecodable bytes>"


def publish(host: str, port: int, items: Iterable[tuple[str, bytes]], qos: int = 1,
            retain: bool = False) -> None:
    """Publish each (topic, payload) and wait until the broker acknowledged all."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(host, port)
    client.loop_start()
    try:
        infos = [client.publish(t, p, qos=qos, retain=retain) for t, p in items]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
