"""A virtual device on MQTT: the shell around :class:`DeviceCore`.

It behaves like the firmware: retained birth ``DeviceState`` on connect and the same
message offline as its last will; reports on ``device_report(id)`` at QoS 1; its
retained ``device_config`` applied (a bad one counted and ignored, old thresholds
kept); while the broker is away, reports wait in the bounded ring (twin of the C
ring) and drain in order on reconnect, drops counted.

Every report goes through the ring: ``tick()`` pushes, ``pump()`` publishes from
the ring while connected and fewer than ``window`` reports await their PUBACK. So
the only places a report can be lost are the ring's counted drops.

The device owns no thread. A :class:`edgecascade.emulator.driver.Driver` calls
``tick``/``service`` and drives the paho client's socket (paho's external-loop API),
so one thread runs hundreds of devices.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import time
from dataclasses import dataclass, fields
from typing import Any

import paho.mqtt.client as mqtt

from edgecascade.mqtt import BrokerSettings, make_client
from edgecascade.protocol import DeviceConfig, DeviceState, ProtocolError, Topics, decode, encode

from .core import ConfigOutcome, DeviceCore, Made
from .ledger import GroundTruth
from .ota_agent import OtaAgent
from .ring import DEFAULT_SLOTS, ReportRing
from .state import StateStore

log = logging.getLogger(__name__)

FW_VERSION = "0.1.0-emu"
#: Reports awaiting PUBACK at once (esp-mqtt's outbox plays this role on the board).
DEFAULT_WINDOW = 20
#: Ring slots: the firmware's Kconfig default (EC_RING_SLOTS), kept in ring.py.
DEFAULT_RING_CAPACITY = DEFAULT_SLOTS


@dataclass
class DeviceStats:
    made: int = 0
    sent: int = 0
    acked: int = 0
    attached: int = 0
    dropped: int = 0
    config_applied: int = 0
    config_rejected: int = 0
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0

    def add(self, other: DeviceStats) -> None:
        for f in fields(DeviceStats):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def now_ms() -> int:
    return int(time.time() * 1000)


class VirtualDevice:
    def __init__(
        self,
        core: DeviceCore,
        settings: BrokerSettings,
        topics: Topics,
        *,
        ledger: GroundTruth | None = None,
        state: StateStore | None = None,
        ring_capacity: int = DEFAULT_RING_CAPACITY,
        window: int = DEFAULT_WINDOW,
        fw_version: str = FW_VERSION,
        ota: OtaAgent | None = None,
    ) -> None:
        self.core = core
        self.settings = settings
        self.topics = topics
        self.ledger = ledger
        self.state = state
        self.window = window
        self.fw_version = fw_version
        self.stats = DeviceStats()
        self.ota = ota  # model updates over the air (ota_agent.py), when enabled
        self.ring = ReportRing(max_slots=ring_capacity)
        self.report_topic = topics.device_report(core.device_id)
        self.state_topic = topics.device_state(core.device_id)
        self.config_topic = topics.device_config(core.device_id)
        self.connected = False
        self.inflight: set[int] = set()
        self.needs_service = False
        self._just_connected = False
        self._send_birth = False
        self._ever_connected = False
        self.next_connect = 0.0
        self._backoff = 0.5
        self.client = self._make_client()

    @property
    def device_id(self) -> str:
        return self.core.device_id

    # -- messages -----------------------------------------------------------------
    def _state(self, online: bool) -> bytes:
        return encode(
            DeviceState(
                device_id=self.device_id,
                online=online,
                ts_ms=now_ms(),
                epoch=self.core.epoch,
                model_id=self.core.source.model_id,
                model_version=self.core.source.model_version,
                fw_version=self.fw_version,
                dropped=min(self.stats.dropped, 0xFFFFFFFF) if online else None,
            )
        )

    def _make_client(self) -> mqtt.Client:
        client = make_client(
            self.settings, self.device_id, clean_start=True,
            will=(self.state_topic, self._state(False)),
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    # -- paho callbacks (run inside loop_read/loop_write: never publish here) -------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                    props: Any = None) -> None:
        if rc.is_failure:
            self.stats.connect_failures += 1
            return
        self.connected = True
        self._just_connected = True
        self.needs_service = True
        self.stats.connects += 1
        self._backoff = 0.5

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                       props: Any = None) -> None:
        if self.connected:
            self.stats.disconnects += 1
        self.connected = False
        self.schedule_reconnect(time.monotonic())

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any,
                    props: Any = None) -> None:
        if mid in self.inflight:
            self.inflight.discard(mid)
            self.stats.acked += 1
            self.needs_service = True

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self.ota is not None and self.ota.owns(msg.topic):
            self.ota.on_message(msg.topic, bytes(msg.payload))
            self.needs_service = True
            return
        try:
            config = decode(DeviceConfig, msg.payload)
        except ProtocolError as exc:
            self.stats.config_rejected += 1
            log.warning("config rejected", extra={"device_id": self.device_id,
                                                  "error": exc.reason, "why": exc.why})
            return
        outcome = self.core.apply_config(config)
        if outcome is ConfigOutcome.STALE:
            return
        self.stats.config_applied += 1
        if self.state is not None:
            self.state.remember(self.device_id, epoch=self.core.epoch,
                                config_revision=self.core.config_revision)
        if outcome is ConfigOutcome.APPLIED_NEW_EPOCH:
            self._send_birth = True  # announce the new session with a fresh birth
            self.needs_service = True

    # -- driven by the Driver -----------------------------------------------------
    def schedule_reconnect(self, now: float) -> None:
        self.next_connect = now + self._backoff * random.uniform(0.5, 1.0)
        self._backoff = min(self._backoff * 2, 10.0)

    def connect(self, now: float) -> bool:
        """Open the connection (blocking TCP connect); False means retry later."""
        try:
            if self._ever_connected:
                self.client.reconnect()
            else:
                self.client.connect(self.settings.host, self.settings.port,
                                    keepalive=self.settings.keepalive)
                self._ever_connected = True
        except (OSError, ValueError) as exc:
            self.stats.connect_failures += 1
            log.debug("connect failed", extra={"device_id": self.device_id, "error": str(exc)})
            self.schedule_reconnect(now)
            return False
        return True

    def tick(self) -> Made:
        """Make one report into the ring (the frame's truth into the ledger)."""
        made = self.core.next_report(now_ms())
        self.stats.made += 1
        if made.attached:
            self.stats.attached += 1
        self.stats.dropped += self.ring.push(made.payload, made.attached)
        self.needs_service = True
        if self.ledger is not None:  # after the push: a ledger failure loses no report
            self.ledger.record(self.device_id, made.report.epoch, made.report.seq,
                               made.label, made.index)
        return made

    def service(self) -> None:
        """Work the callbacks asked for: birth and subscription after connect, pumping."""
        self.needs_service = False
        if not self.connected:
            return
        if self._just_connected:
            self._just_connected = False
            self._send_birth = True
            self.client.subscribe(self.config_topic, qos=1)
            for topic in self.ota.subscriptions() if self.ota is not None else ():
                self.client.subscribe(topic, qos=1)
        if self.ota is not None:
            self._service_ota(self.ota)
        if self._send_birth:
            self._send_birth = False
            self.client.publish(self.state_topic, self._state(True), qos=1, retain=True)
        self.pump()

    def _service_ota(self, agent: OtaAgent) -> None:
        """Verify/switch a finished download, publish its status, follow its topics."""
        for topic in agent.service(
                lambda t, p: self.client.publish(t, p, qos=1, retain=True), now_ms()):
            self.client.subscribe(topic, qos=1)
        for topic in agent.take_unsubscribes():
            self.client.unsubscribe(topic)
        if agent.switched:  # the new model's version goes out in a fresh birth
            agent.switched = False
            self._send_birth = True

    def pump(self) -> None:
        while self.connected and len(self.inflight) < self.window and len(self.ring):
            payload = self.ring.pop()
            if payload is None:
                break
            info = self.client.publish(self.report_topic, payload, qos=1)
            # Even when the link dropped this instant, paho keeps a QoS 1 message and
            # sends it after reconnecting, so it is in flight either way.
            self.inflight.add(info.mid)
            self.stats.sent += 1

    @property
    def idle(self) -> bool:
        """Nothing buffered and nothing awaiting a PUBACK."""
        return not len(self.ring) and not self.inflight

    def goodbye(self) -> None:
        """Graceful stop: retained offline state, then DISCONNECT (no will)."""
        if self.connected:
            self.client.publish(self.state_topic, self._state(False), qos=1, retain=True)
            self.client.disconnect()

    def crash(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker publishes the will."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.connected = False
