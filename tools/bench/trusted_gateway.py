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


class _TrustHooks:
    """The hooks, on whichever object receives the site's messages.

    Today's shell: the :class:`Gateway` itself (``_on_message``, ``_handle_report``,
    ``_reject``). The split shell (``gateway/intake.py``): its ``Intake`` (``on_message``
    and the same two others), with the gateway as ``self.gw``.
    """

    @property
    def _g(self) -> Any:
        return getattr(self, "gw", self)

    def _refused(self, r: Refusal) -> None:  # HOOK 4: every rejection goes through here
        g = self._g
        g.metrics.inc("rejected", reason=r.reason)
        if (line := g.trust.log_line(r, time.monotonic())) is not None:
            log.log(line.level, line.message, extra=line.extra)

    def _reject(self, reason: str, device: str, why: str) -> None:
        self._refused(Refusal(reason, device, why))

    def _admit_topic(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> bool:
        """HOOK 2 (before decoding a report or a birth): False when refused (and acked)."""
        g = self._g
        try:
            parsed = g.topics.parse(msg.topic)
        except ProtocolError:
            return True  # the shell counts a bad topic itself
        if parsed.kind not in (TopicKind.DEVICE_REPORT, TopicKind.DEVICE_STATE):
            return True
        refusal = g.trust.admit_topic(parsed.id, time.monotonic(),
                                      birth=parsed.kind is TopicKind.DEVICE_STATE)
        if refusal is None:
            return True
        self._refused(refusal)
        if msg.qos > 0:
            client.ack(msg.mid, msg.qos)  # refused for good: never redelivered
        return False

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if self._admit_topic(client, msg):
            super()._on_message(client, userdata, msg)  # type: ignore[misc]

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if self._admit_topic(client, msg):
            super().on_message(client, userdata, msg)  # type: ignore[misc]

    def _handle_report(self, topic_id: str, payload: bytes, received: float) -> None:
        g = self._g
        try:
            report = decode(Report, payload)
        except ProtocolError:
            report = None
        if report is not None and report.device_id == topic_id:
            # HOOK 3: in _handle_report, right after the topic/payload id check
            refusal = g.trust.admit_report(report, received)
            if refusal is not None:
                g.metrics.inc("reports")
                self._refused(refusal)
                return
        super()._handle_report(topic_id, payload, received)  # type: ignore[misc]


class TrustedGateway(_TrustHooks, Gateway):
    def __init__(self, config: GatewayConfig, trust: Trust, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.trust = trust  # HOOK 1: Trust(TrustSettings(allowlist=site_devices(dir) or None))
        intake = getattr(self, "intake", None)
        if intake is not None:  # the split shell: messages arrive at gateway.intake
            trusted = type("TrustedIntake", (_TrustHooks, type(intake)), {})
            self.intake = trusted(self)
