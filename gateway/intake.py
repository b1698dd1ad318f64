"""Report intake (shell): topic, decode and validation checks before the core sees a report.

A report that can never be valid (bad topic, bad payload, wrong device, unknown device,
wrong frame shape) is rejected -- counted by reason, logged -- and acknowledged; a valid
one goes to the group commit (:mod:`.committer`), which admits it with the reports
around it in one transaction and acknowledges it once that is durable.
A report whose handling failed is *not* acknowledged: the broker redelivers it.

The site broker's own error log (``$SYS/broker/log/E``, mosquitto's ``log_dest topic``)
comes here too: its "Client X already connected" line is a second connection with X's
identity, counted as ``identity_takeovers_total{role}`` with a rate-limited warning.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt

from edgecascade.protocol import ProtocolError, Report, TopicKind, decode
from edgecascade.protocol.ota_messages import ModelManifest

from .committer import Committer, Taken
from .edge import FrameRejected
from .housekeeping import handle_device_state
from .site import TOPIC_CACHE, now_ms
from .trust import BROKER_LOG_TOPIC, Refusal, taken_over

if TYPE_CHECKING:
    from .service import Gateway

log = logging.getLogger("edgecascade.gateway")


class Intake:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.committer = Committer(gw)
        # a device's topics repeat: each parsed once (a bad one raises, and is not kept)
        self._parse = functools.lru_cache(maxsize=TOPIC_CACHE)(gw.topics.parse)

    def stop(self) -> None:
        self.committer.stop()

    def after_read(self, client: mqtt.Client) -> None:
        """The site client read what the socket had (network thread): commit the batch."""
        self.committer.after_read(client.socket())

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if self.gw.stopping.is_set():
            return  # not acknowledged: the broker redelivers it to our next session
        received = time.monotonic()
        try:
            payload = bytes(msg.payload)
            if msg.topic == BROKER_LOG_TOPIC:
                self._broker_log(payload, received)
                kind, id_ = None, ""
            elif self.gw.dashboards.on_message(msg.topic, payload):
                kind, id_ = None, ""  # Home Assistant's status: the dashboards' own topic
            else:
                kind, id_ = self._parse_topic(msg.topic)
            if kind in (TopicKind.DEVICE_REPORT, TopicKind.DEVICE_STATE):
                # Before decoding: a known identity (refused for good: acked).
                refusal = self.gw.trust.admit_topic(id_, received,
                                                    birth=kind is TopicKind.DEVICE_STATE)
                if refusal is not None:
                    if kind is TopicKind.DEVICE_REPORT:
                        self.gw.metrics.inc("reports")
                    self._refused(refusal)
                    kind = None
            if kind is TopicKind.DEVICE_REPORT:
                taken = self._handle_report(id_, payload, received, client, msg)
                if taken is not None:  # the committer acks it once durable (or never)
                    self.committer.add(taken)
                    return
            elif kind is TopicKind.MODEL_MANIFEST:
                self._handle_manifest(payload)
            elif kind is TopicKind.DEVICE_STATE:
                self.gw.dashboards.on_device_state(id_, payload)
                if payload:  # empty: the device's retained state cleared (retired)
                    handle_device_state(self.gw, payload, bool(msg.retain))
        except Exception:
            # Not acknowledged: the report is not durable. It is redelivered on reconnect.
            self.gw.metrics.inc("rejected", reason="internal")
            log.exception("report handling failed", extra={"topic": msg.topic[:200]})
            return
        if msg.qos > 0:
            client.ack(msg.mid, msg.qos)

    def _broker_log(self, line: bytes, now: float) -> None:
        """mosquitto says an identity connected while connected: count it, warn (quietly)."""
        who = taken_over(line)
        if who is None:
            return
        gw = self.gw
        allow = gw.trust.settings.allowlist
        if who in (gw.cfg.session_client_id, gw.cfg.gateway_id):
            role = "gateway"
        elif (who in allow) if allow is not None else gw.trust.knows(who):
            role = "device"
        else:
            role = "other"
        gw.metrics.inc("identity_takeovers", role=role)
        suppressed = gw.trust.quiet.due(f"takeover:{role}", now)
        if suppressed is not None:
            log.warning("an identity connected while already connected: the site broker "
                        "closed its older connection (a second holder of its credentials, "
                        "or a reconnect before the broker saw the old connection die)",
                        extra={"identity": who[:64], "role": role, "suppressed": suppressed,
                               "total": gw.metrics.value("identity_takeovers", role=role)})

    def _handle_manifest(self, payload: bytes) -> None:
        """A model version deployed (retained): judge its devices by its thresholds."""
        try:
            m = decode(ModelManifest, payload)
        except ProtocolError as exc:
            self._reject(exc.reason, "manifest", exc.why)
            return
        gw = self.gw
        with gw.wake:
            gw.model_thresholds = gw.model_thresholds.with_manifest(m)
            gw.rollout.on_manifest(m)

    def _parse_topic(self, topic: str) -> tuple[TopicKind | None, str]:
        try:
            parsed = self._parse(topic)
        except ProtocolError as exc:
            self.gw.metrics.inc("rejected", reason=exc.reason)
            return None, ""
        return parsed.kind, parsed.id

    def _reject(self, reason: str, device: str, why: str) -> None:
        self._refused(Refusal(reason, device, why))

    def _refused(self, r: Refusal) -> None:
        """Every rejection: counted by reason; logged at most once per reason and interval,
        with how many were suppressed (a flood must not flood the log)."""
        self.gw.metrics.inc("rejected", reason=r.reason)
        line = self.gw.trust.log_line(r, time.monotonic())
        if line is not None:
            log.log(line.level, line.message, extra=line.extra)

    def _handle_report(self, topic_id: str, payload: bytes, received: float,
                       client: mqtt.Client, msg: mqtt.MQTTMessage) -> Taken | None:
        """A valid report to admit, or None when it was rejected (then acknowledged)."""
        self.gw.metrics.inc("reports")
        try:
            report = decode(Report, payload, self.gw.cfg.site_max_payload_bytes)
        except ProtocolError as exc:
            self._reject(exc.reason, topic_id, exc.why)
            return None
        if report.device_id != topic_id:
            self._reject("report:topic_mismatch", topic_id,
                         f"payload device {report.device_id!r} on topic of {topic_id!r}")
            return None
        wall_ms = now_ms()
        # the sequence credit (new frames per unit of time) and the replay bucket
        refusal = self.gw.trust.admit_report(report, received, wall_ms)
        if refusal is not None:
            self._refused(refusal)
            return None
        pixels = None
        if report.frame is not None and self.gw.edge is not None:
            try:
                pixels = self.gw.edge.pixels(report.frame)
            except FrameRejected as exc:
                self._reject("report:frame_shape", report.device_id, exc.why)
                return None
        link = self.gw.link
        return Taken(report, payload, received, wall_ms, pixels, client, msg.mid, msg.qos,
                     link.session if link is not None else 0)
