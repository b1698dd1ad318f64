"""The gateway with the trust hooks applied, exactly as the shell should call them.

No ``run`` here, so the benchmark runner skips it. Until the hooks are folded into the
gateway shell (gateway/service.py is being split), this subclass applies them around the
current methods for the flood benchmark and tests/security; each ``# HOOK n`` marks one
line of the shell (docs/security.md, "Gateway hooks"). Delete it once the shell has them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import paho.mqtt.client as mqtt

from edgecascade.gateway.config import GatewayConfig
from edgecascade.gateway.service import Gateway
from edgecascade.gateway.trust import Refusal, Trust
from edgecascade.protocol import ProtocolError, Report, TopicKind, decode

log = logging.getLogger("edgecascade.gateway")


class TrustedGateway(Gateway):
    def __init__(self, config: GatewayConfig, trust: Trust, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.trust = trust  # HOOK 1: Trust(TrustSettings(allowlist=site_devices(dir) or None))

    def _refused(self, r: Refusal) -> None:  # HOOK 4: every rejection goes through here
        self.metrics.inc("rejected", reason=r.reason)
        if (line := self.trust.log_line(r, time.monotonic())) is not None:
            log.log(line.level, line.message, extra=line.extra)

    def _reject(self, reason: str, device: str, why: str) -> None:
        self._refused(Refusal(reason, device, why))

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            parsed = self.topics.parse(msg.topic)
        except ProtocolError:
            parsed = None
        if parsed is not None and parsed.kind in (TopicKind.DEVICE_REPORT,
                                                  TopicKind.DEVICE_STATE):
            # HOOK 2: before decoding, in _on_message
            refusal = self.trust.admit_topic(parsed.id, time.monotonic(),
                                             birth=parsed.kind is TopicKind.DEVICE_STATE)
            if refusal is not None:
                self._refused(refusal)
                if msg.qos > 0:
                    client.ack(msg.mid, msg.qos)  # refused for good: never redelivered
                return
        super()._on_message(client, userdata, msg)

    def _handle_report(self, topic_id: str, payload: bytes, received: float) -> None:
        try:
            report = decode(Report, payload)
        except ProtocolError:
            report = None
        if report is not None and report.device_id == topic_id:
            # HOOK 3: in _handle_report, right after the topic/payload id check
            refusal = self.trust.admit_report(report, received)
            if refusal is not None:
                self.metrics.inc("reports")
                self._refused(refusal)
                return
        super()._handle_report(topic_id, payload, received)
