"""The demo's neutral observer: sees every report and every result on the site broker.

It timestamps reports when they reach the broker and results when they come back, on
one clock, so latency is device report -> final result as a dashboard would see it.
Ground-truth labels come from the emulator's own ledger, never from the wire.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from edgecascade.mqtt import BrokerSettings, make_client
from edgecascade.protocol import ProtocolError, Report, Result, TopicKind, Topics, decode
from edgecascade.tools.demo.report import SeenResult

Key = tuple[str, int, int]


@dataclass
class Observer:
    settings: BrokerSettings
    topics: Topics
    reports: dict[Key, float] = field(default_factory=dict)
    results: list[SeenResult] = field(default_factory=list)
    undecodable: int = 0
    #: Keep a persistent session, so results published while the broker restarts are
    #: still delivered once it is back (the fault tests use this).
    persistent: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = make_client(self.settings, f"demo-observer-{uuid.uuid4().hex[:6]}",
                                  clean_start=not self.persistent)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a, **k: self._subscribed.set()
        self.client.on_message = self._on_message

    def start(self, timeout: float = 15.0) -> Observer:
        self.client.connect(self.settings.host, self.settings.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            raise RuntimeError(f"observer could not subscribe on {self.settings.url}")
        return self

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe([(self.topics.filter(TopicKind.DEVICE_REPORT), 1),
                          (self.topics.filter(TopicKind.RESULT), 1)])

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        try:
            if msg.topic.endswith("/report"):
                report = decode(Report, msg.payload)
                with self._lock:
                    self.reports.setdefault(report.key, now)
            else:
                result = decode(Result, msg.payload)
                with self._lock:
                    self.results.append(SeenResult(result, now))
        except ProtocolError:
            self.undecodable += 1

    def snapshot(self) -> tuple[dict[Key, float], list[SeenResult]]:
        with self._lock:
            return dict(self.reports), list(self.results)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
