"""Report intake (shell): topic, decode and validation checks before the core sees a report.

A report that can never be valid (bad topic, bad payload, wrong device, unknown device,
wrong frame shape) is rejected -- counted by reason, logged -- and acknowledged; a valid
one is admitted (:meth:`.service.Gateway.admit`) and acknowledged once it is durable.
A report whose handling failed is *not* acknowledged: the broker redelivers it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt

from edgecascade.protocol import ProtocolError, Report, TopicKind, decode

from .edge import FrameRejected
from .housekeeping import handle_device_state
from .site import now_ms

if TYPE_CHECKING:
    from .service import Gateway

log = logging.getLogger("edgecascade.gateway")


class Intake:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if self.gw.stopping.is_set():
            return  # not acknowledged: the broker redelivers it to our next session
        received = time.monotonic()
        try:
            payload = bytes(msg.payload)
            if self.gw.dashboards.on_message(msg.topic, payload):
                kind, id_ = None, ""  # Home Assistant's status: the dashboards' own topic
            else:
                kind, id_ = self._parse_topic(msg.topic)
            if kind is TopicKind.DEVICE_REPORT:
                self._handle_report(id_, payload, received)
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

    def _parse_topic(self, topic: str) -> tuple[TopicKind | None, str]:
        try:
            parsed = self.gw.topics.parse(topic)
        except ProtocolError as exc:
            self.gw.metrics.inc("rejected", reason=exc.reason)
            return None, ""
        return parsed.kind, parsed.id

    def _reject(self, reason: str, device: str, why: str) -> None:
        self.gw.metrics.inc("rejected", reason=reason)
        log.warning("report rejected", extra={"reason": reason, "device_id": device[:64],
                                              "why": why[:200]})

    def _handle_report(self, topic_id: str, payload: bytes, received: float) -> None:
        self.gw.metrics.inc("reports")
        try:
            report = decode(Report, payload)
        except ProtocolError as exc:
            self._reject(exc.reason, topic_id, exc.why)
            return
        if report.device_id != topic_id:
            self._reject("report:topic_mismatch", topic_id,
                         f"payload device {report.device_id!r} on topic of {topic_id!r}")
            return
        allow = self.gw.cfg.devices.allowlist
        if allow and report.device_id not in allow:
            self._reject("report:unknown_device", report.device_id, "not in devices.allowlist")
            return
        pixels = None
        if report.frame is not None and self.gw.edge is not None:
            try:
                pixels = self.gw.edge.pixels(report.frame)
            except FrameRejected as exc:
                self._reject("report:frame_shape", report.device_id, exc.why)
                return
        self.gw.admit([self.gw.arrival(report, payload, received, now_ms(), pixels)])
