"""The gateway's link to the site broker (paho): connect, subscribe, publish, PUBACK books.

:class:`SiteLink` owns the paho client of the site session (persistent, manual PUBACK of
reports), the gateway's retained online/offline state, and the outbox that matches the
broker's PUBACKs of our results to (frame, revision) so the ledger can mark them sent.
The frame lifecycle itself is not here: reports are handed to ``on_message`` (the
shell in :mod:`.service`), which acknowledges them once they are durable.

Every connect checks ``session_present``: once this gateway has had a session on the
broker (in this process, or before a restart: ``site-session.json`` in the state
directory names the client id and broker it was made with), a connect without one
means the broker forgot it -- a broker restarted without persistence, or another client
that connected with our client id and a clean session -- and reports queued for us may
be gone. That is logged as an ERROR, counted (``site_sessions_lost_total``), shown by
the ``site_session_present`` gauge and said by ``/readyz`` for ``SESSION_LOST_SHOWN_S``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

from edgecascade import __version__
from edgecascade.mqtt import connect_properties, make_client
from edgecascade.protocol import Result, ServiceState, TopicKind, Topics, decode, encode
from edgecascade.protocol.ota_messages import ModelManifest

from .config import GatewayConfig
from .dashboards import Dashboards
from .effects import frame_id
from .frame_state import Key
from .ledger import Ledger
from .metrics import GatewayMetrics
from .trust import BROKER_LOG_TOPIC

log = logging.getLogger("edgecascade.gateway")


#: Topics remembered per device once built or parsed (paths repeat for every report).
TOPIC_CACHE = 65_536
#: In the state directory: which session (client id, broker) the gateway made last.
SESSION_MARKER = "site-session.json"
#: How long ``/readyz`` says that the site broker had lost our session.
SESSION_LOST_SHOWN_S = 600.0


def now_ms() -> int:
    return int(time.time() * 1000)


class SiteClient(mqtt.Client):
    """paho's client, calling ``after_read`` after each read burst of its network loop
    (where the group commit decides to commit: :mod:`.committer`)."""

    after_read: Callable[[mqtt.Client], None] | None = None

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        try:
            return super().loop_read(max_packets)
        finally:
            if self.after_read is not None:
                self.after_read(self)


class SiteLink:
    def __init__(self, cfg: GatewayConfig, metrics: GatewayMetrics,
                 on_message: Callable[[mqtt.Client, object, mqtt.MQTTMessage], None],
                 after_read: Callable[[mqtt.Client], None],
                 stopping: threading.Event, dashboards: Dashboards,
                 model_id: str | None) -> None:
        self.cfg = cfg
        self.topics: Topics = cfg.topics
        self.metrics = metrics
        self.ready = threading.Event()
        self._on_message = on_message
        self._after_read = after_read
        self._stopping = stopping
        self._model_id = model_id
        self.dashboards = dashboards
        self._acked_mids: list[int] = []
        self._outbox: dict[int, tuple[Key, int]] = {}
        # built (and checked) once per device
        self._result_topic = functools.lru_cache(maxsize=TOPIC_CACHE)(self.topics.result)
        self.client: mqtt.Client | None = None
        self.session = 0  # +1 at each connect and disconnect: which connection a report came on
        self._ack_lock = threading.Lock()
        self._marker = Path(cfg.storage.state_dir) / SESSION_MARKER
        self._had_session = False  # this process made a session on the broker
        self.session_present: bool | None = None  # at the last connect
        self._lost_at: float | None = None
        self._lost_when = ""

    def state_payload(self, online: bool) -> bytes:
        return encode(ServiceState(service_id=self.cfg.gateway_id, online=online, ts_ms=now_ms(),
                                   version=__version__[:32],
                                   model_id=self._model_id[:64] if self._model_id else None))

    def connect(self) -> None:
        cfg = self.cfg
        client = make_client(cfg.broker, cfg.session_client_id, clean_start=False,
                             will=(self.topics.gateway_state(cfg.gateway_id),
                                   self.state_payload(False)), client_class=SiteClient)
        assert isinstance(client, SiteClient)
        client.after_read = self._after_read
        client.manual_ack_set(True)
        if not cfg.broker.mqtt5:
            # MQTT 3.1.1 puts no limit on our QoS 1 results in flight; paho's default (20)
            # makes it walk its in-flight list on every PUBACK. The reports' own flow bounds
            # them. (MQTT 5 brokers announce a receive maximum that paho does not read.)
            client.max_inflight_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self.client = client
        client.connect_async(cfg.broker.host, cfg.broker.port, keepalive=cfg.broker.keepalive,
                             **connect_properties(cfg.broker, False))  # type: ignore[arg-type]
        client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object,
                    props: object = None) -> None:
        self._new_session()
        if getattr(rc, "is_failure", False):
            log.error("site broker refused connection", extra={"rc": str(rc)})
            return
        present = bool(getattr(flags, "session_present", False))
        self._check_session(present)
        group = self.cfg.shared_group
        client.subscribe([
            (self.topics.filter(TopicKind.DEVICE_REPORT, group), 1),
            (self.topics.filter(TopicKind.DEVICE_STATE, group), 1),
            (self.topics.filter(TopicKind.MODEL_MANIFEST), 1),
            *self.dashboards.subscriptions(),
            # mosquitto's own word when an identity connects twice (``log_dest topic``,
            # ``edgecascade site init``); nothing arrives from brokers that do not say it
            (BROKER_LOG_TOPIC, 0),
        ])
        online = self.state_payload(True)
        client.publish(self.topics.gateway_state(self.cfg.gateway_id), online, qos=1,
                       retain=True)
        self.dashboards.on_gateway_state(online)
        log.info("site link up", extra={"broker": self.cfg.broker.url,
                                        "session_present": present})

    # -- the persistent session ----------------------------------------------------------
    def _check_session(self, present: bool) -> None:
        self.session_present = present
        self.metrics.set("site_session_present", 1.0 if present else 0.0)
        if present or not self._expects_session():
            return
        self.metrics.inc("site_sessions_lost")
        self._lost_at = time.monotonic()
        self._lost_when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        log.error("site broker has no session for this gateway: reports queued for it while "
                  "it was away may be lost (broker restarted without persistence, or "
                  "another client connected with this client id)",
                  extra={"client_id": self.cfg.session_client_id, "broker": self.cfg.broker.url})

    def _expects_session(self) -> bool:
        if self._had_session:
            return True
        try:
            made = json.loads(self._marker.read_text())
        except (OSError, ValueError):
            return False
        return bool(isinstance(made, dict)
                    and made.get("client_id") == self.cfg.session_client_id
                    and made.get("broker") == self.cfg.broker.url)

    def _remember_session(self) -> None:
        """The broker holds our session now: a later connect without it is a loss."""
        self._had_session = True
        tmp = self._marker.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"client_id": self.cfg.session_client_id,
                                       "broker": self.cfg.broker.url}) + "\n")
            os.replace(tmp, self._marker)
        except OSError as exc:  # the in-process check still works
            log.warning("cannot record the site session", extra={"why": str(exc)})

    def session_lost(self) -> str | None:
        """Why ``/readyz`` should say the session was lost, or None."""
        if self._lost_at is None or time.monotonic() - self._lost_at > SESSION_LOST_SHOWN_S:
            return None
        return f"at {self._lost_when}: reports queued for this gateway may be lost upstream"

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, rcs: object,
                      props: object = None) -> None:
        if not self._had_session:
            self._remember_session()
        self.ready.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, rc: object,
                       props: object = None) -> None:
        self.ready.clear()
        self._new_session()
        if not self._stopping.is_set():
            log.warning("site link down", extra={"rc": str(rc)})

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, rc: object = None,
                    props: object = None) -> None:
        self._acked_mids.append(mid)  # list.append is atomic; matched in housekeeping

    def _new_session(self) -> None:
        with self._ack_lock:
            self.session += 1

    def ack(self, client: mqtt.Client, mid: int, qos: int, session: int) -> None:
        """PUBACK a report taken on connection ``session`` (any thread). Not on a later
        connection: its packet id may name another report there (the broker redelivers
        this one to the session instead)."""
        with self._ack_lock:
            if session == self.session:
                client.ack(mid, qos)

    # -- results -----------------------------------------------------------------------
    def publish_result(self, result: Result, data: bytes) -> None:
        assert self.client is not None
        info = self.client.publish(self._result_topic(result.device_id), data, qos=1)
        self._outbox[info.mid] = (result.key, result.revision)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.metrics.inc("publish_failed")
        self.metrics.inc("results", tier=result.tier, reason=result.reason)
        self.metrics.observe_latency(result.tier, result.latency_ms / 1000)
        self.dashboards.on_result(result)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("result", extra={"frame": frame_id(result.key), "tier": result.tier,
                                       "reason": result.reason, "revision": result.revision})

    def publish_manifest(self, m: ModelManifest) -> None:
        """The canary rule decided: the manifest every device of the tier follows next."""
        assert self.client is not None
        log.info("canary decided", extra={"tier": m.tier, "version": m.version})
        self.client.publish(self.topics.model_manifest(m.tier), encode(m), qos=1, retain=True)

    def republish(self, key: Key, revision: int, data: bytes) -> None:
        """A stored result not confirmed before a crash: the same bytes again."""
        assert self.client is not None
        info = self.client.publish(self._result_topic(key[0]), data, qos=1)
        self._outbox[info.mid] = (key, revision)
        self.dashboards.on_result(decode(Result, data))

    def flush_sent(self, ledger: Ledger | None) -> None:
        if ledger is None:
            return
        mids, self._acked_mids = self._acked_mids, []
        done = []
        later = []
        for mid in mids:
            item = self._outbox.pop(mid, None)
            if item is None:
                later.append(mid)  # the PUBACK beat our bookkeeping: match it next round
            else:
                done.append(item)
        if later:
            self._acked_mids.extend(later[-10_000:])
        ledger.mark_sent(done)

    def go_offline(self, ledger: Ledger | None) -> None:
        """Publish the retained offline state, wait (briefly) for PUBACKs, disconnect."""
        if self.client is None:
            return
        offline = self.state_payload(False)
        info = self.client.publish(self.topics.gateway_state(self.cfg.gateway_id), offline,
                                   qos=1, retain=True)
        self.dashboards.on_gateway_state(offline)
        deadline = time.monotonic() + 5
        # A publish that failed (broker gone) has nothing to wait for: is_published() raises.
        while (info.rc == mqtt.MQTT_ERR_SUCCESS and not info.is_published()
               and time.monotonic() < deadline
               and self.client.is_connected()):
            time.sleep(0.01)
        while self._outbox and time.monotonic() < deadline:
            self.flush_sent(ledger)
            if not self.client.is_connected():
                break
            time.sleep(0.02)
        self.flush_sent(ledger)
        self.client.disconnect()
        self.client.loop_stop()
