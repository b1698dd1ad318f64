"""The shell's side of the cloud boundary: what the gateway hands the cloud client, and
what its answers become.

- :func:`cloud_client_for`: the cloud client of a config (None with ``[cloud] enabled =
  false``), on the cloud broker (the site broker when there is none).
- :func:`hand_off`: a frame the core escalates goes to the cloud client's spool; a private
  frame refused at the boundary and the frames a full spool drops are logged and counted.
- :func:`send_audit`: a cloud audit of an edge answer (``[monitoring] audit_cloud_share``),
  sent only within its own budget (``audit_cloud_messages``) and spooled at
  :data:`AUDIT_VALUE`, so a full spool drops audits first; an audit not sent says why to
  the field monitor (``no_cloud``, ``budget``, ``spool``).
- :func:`cloud_reply`: a cloud outcome as the core's :class:`~.effects.CloudReply`, or None
  when it answered an audit: the field monitor takes it (edge~cloud agreement, its cost)
  and it never becomes a correction.

Each takes its collaborators (the cloud client, the metrics, the field monitor) as
arguments; :mod:`.service` calls them outside its lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from edgecascade.protocol import Report
from edgecascade.protocol.claimcheck import FrameStore

from . import effects as fx
from .cache import Answer
from .cloud_client import CloudClient, CloudOutcome, PrivacyViolation
from .config import GatewayConfig
from .effects import frame_id
from .metrics import GatewayMetrics
from .monitoring import FieldMonitor
from .site import now_ms
from .spool import Spool

log = logging.getLogger("edgecascade.gateway")

#: Spool value of a cloud audit: below any frame's (priority + 1 - confidence >= 0), so a
#: full spool drops audits first.
AUDIT_VALUE = -1.0

__all__ = ["AUDIT_VALUE", "cloud_client_for", "cloud_reply", "hand_off", "send_audit"]


def cloud_client_for(cfg: GatewayConfig, spool: Spool, metrics: GatewayMetrics,
                     on_answer: Callable[[CloudOutcome], None],
                     frame_store: FrameStore | None) -> CloudClient | None:
    """The gateway's cloud client, not yet started; None when the cloud is disabled."""
    if not cfg.cloud.enabled:
        return None
    return CloudClient(
        settings=cfg.cloud_broker or cfg.broker, topics=cfg.topics,
        gateway_id=cfg.gateway_id, cfg=cfg.cloud, spool=spool, metrics=metrics,
        on_answer=on_answer, frame_store=frame_store, client_id=cfg.cloud_session_client_id)


def hand_off(cloud: CloudClient, metrics: GatewayMetrics, s: fx.Spool) -> str | None:
    """Hand the frame to the cloud client (spooled); None when kept, else why not."""
    try:
        res = cloud.enqueue(s.key, s.frame, s.private, s.value)
    except PrivacyViolation:
        log.error("private frame refused at the cloud boundary",
                  extra={"frame": frame_id(s.key)})
        return "privacy"
    for key in res.dropped:
        metrics.inc("spool_dropped", reason=res.reason)
        if res.reason not in ("disk_full", "io_error"):  # those: one rate-limited ERROR
            log.warning("spooled frame dropped",
                        extra={"frame": frame_id(key), "reason": res.reason})
    return None if res.stored else (res.reason or "not_stored")


def send_audit(a: fx.AuditCloud, cloud: CloudClient | None, metrics: GatewayMetrics,
               field: FieldMonitor, cost_of: Callable[[Report], float]) -> None:
    """A cloud audit of an edge answer: within its budget (``cost_of`` the report's
    expected cost), spooled at the lowest value, its reply kept from the core."""
    key, frame = a.report.key, a.report.frame
    if cloud is None or frame is None:
        field.cloud_audit_unsent(key, "no_cloud")
        return
    if not field.cloud_audit_allowed(cost_of(a.report)):
        field.cloud_audit_unsent(key, "budget")
        return
    field.cloud_audit_sent(a.report, a.edge_label)  # before the reply can come
    if hand_off(cloud, metrics, fx.Spool(key, frame, False, AUDIT_VALUE, wait=False)) is not None:
        field.cloud_audit_unsent(key, "spool")


def cloud_reply(out: CloudOutcome, field: FieldMonitor) -> fx.CloudReply | None:
    """The core's reply for a cloud outcome; None when the field monitor took it as an
    audit of an answer already given (measured, never a correction)."""
    a = out.answer
    if field.take_cloud_audit(a.key, a.label if a.error is None else None, out.cost):
        return None
    answer = None
    if a.error is None:
        assert a.label is not None and a.confidence is not None
        answer = Answer(a.label, a.confidence, "cloud", out.model_id, out.model_version,
                        now_ms())
    return fx.CloudReply(a.key, answer, a.error, out.cost, out.item.frame)
