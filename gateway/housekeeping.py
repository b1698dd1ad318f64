"""The gateway's background duties (shell): recovery, deadlines, PUBACK books, storage.

* :func:`recover` (at start): what the ledger holds from before a crash -- results
  stored but not confirmed, frames pending;
* :class:`Housekeeper` (thread ``gw-house``): once the site link is up, republishes those
  results and re-admits those frames into the core; then, in a loop, ticks the core's
  deadlines, matches PUBACKs, flushes the cache, publishes metrics, checkpoints and probes
  the stores, flushes what a refusing disk left in memory, prunes the ledger, swaps in
  a replaced ``[edge] model`` file (:mod:`.model_swap`);
* :func:`handle_device_state`: epoch assignment for devices that come online without one.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edgecascade.protocol import (
    DeviceConfig,
    DeviceState,
    Metrics,
    ProtocolError,
    Report,
    decode,
    encode,
)
from edgecascade.protocol.audit import share_to_wire
from edgecascade.site import SiteError

from .edge import FrameRejected
from .frame_state import Key
from .site import now_ms
from .trust import allowlist_of

if TYPE_CHECKING:
    from .service import Gateway

log = logging.getLogger("edgecascade.gateway")

#: How often a gateway with ``[devices] site_dir`` re-reads the site's devices.
SITE_REREAD_S = 5.0


@dataclass(frozen=True)
class PendingReport:
    report: Report
    received: float  # monotonic, back-dated by the frame's age
    received_ms: int
    pixels: object


@dataclass
class Recovered:
    """What :func:`recover` found in the ledger."""

    unsent: list[tuple[Key, int, bytes]] = field(default_factory=list)
    pending: list[PendingReport] = field(default_factory=list)


def recover(gw: Gateway) -> Recovered:
    """After a crash: the stored-but-unconfirmed results and the pending frames."""
    assert gw.ledger is not None
    unsent = gw.ledger.unsent()
    pending = gw.ledger.pending()
    found = Recovered(unsent)
    if not unsent and not pending:
        return found
    log.info("recovering", extra={"unsent_results": len(unsent),
                                  "pending_frames": len(pending)})
    for frame in pending:
        try:
            report = decode(Report, frame.report, gw.cfg.site_max_payload_bytes)
            pixels = gw.edge.pixels(report.frame) if (gw.edge and report.frame) else None
        except (ProtocolError, FrameRejected):  # pragma: no cover - validated when stored
            continue
        age_s = max(0.0, (now_ms() - frame.received_ms) / 1000)
        found.pending.append(PendingReport(report, time.monotonic() - age_s,
                                           frame.received_ms, pixels))
    return found


def handle_device_state(gw: Gateway, payload: bytes, retained: bool) -> None:
    assert gw.ledger is not None
    try:
        state = decode(DeviceState, payload)
    except ProtocolError as exc:
        gw.metrics.inc("rejected", reason=exc.reason)
        return
    if state.online and state.epoch is not None and gw.cfg.monitoring.audit_share > 0:
        send_audit_config(gw, state.device_id)  # issue 22: a device with its own epoch
        return
    if not (state.online and state.epoch is None and gw.cfg.devices.assign_epochs):
        return
    if retained and gw.ledger.has_epoch(state.device_id):
        return  # an old birth seen again after our restart: its epoch was assigned
    epoch = gw.ledger.next_epoch(state.device_id, floor=int(time.time()))
    t = gw.cfg.thresholds
    config = DeviceConfig(revision=epoch, conf_threshold=t.device_confidence,
                          margin_threshold=t.device_margin,
                          complexity_limit=min(t.complexity_limit, 3.0e38), epoch=epoch,
                          audit_share=share_to_wire(gw.cfg.monitoring.audit_share) or None)
    assert gw.site is not None
    gw.site.publish(gw.topics.device_config(state.device_id), encode(config), qos=1,
                    retain=True)
    log.info("epoch assigned", extra={"device_id": state.device_id, "epoch": epoch})


def send_audit_config(gw: Gateway, device_id: str) -> None:
    """The retained DeviceConfig with the audit share, once per device and gateway run, for
    a device that keeps its own epoch (the config carries none; revision: the time)."""
    if not gw.field.first_config(device_id) or gw.site is None:
        return
    t = gw.cfg.thresholds
    config = DeviceConfig(revision=int(time.time()), conf_threshold=t.device_confidence,
                          margin_threshold=t.device_margin,
                          complexity_limit=min(t.complexity_limit, 3.0e38),
                          audit_share=share_to_wire(gw.cfg.monitoring.audit_share))
    gw.site.publish(gw.topics.device_config(device_id), encode(config), qos=1, retain=True)


class Housekeeper:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.recovered = Recovered()
        self._thread = threading.Thread(target=self._run, name="gw-house", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _resume(self) -> None:
        """Runs once the site client exists: publish and re-route what recovery found."""
        gw = self.gw
        assert gw.link is not None
        for key, revision, data in self.recovered.unsent:
            gw.link.republish(key, revision, data)
        pending, self.recovered = self.recovered.pending, Recovered()
        if pending:  # re-routed now, with the gateway's state of now
            gw.admit([gw.arrival(p.report, None, p.received, p.received_ms, p.pixels)
                      for p in pending])

    def _run(self) -> None:
        gw = self.gw
        assert gw.link is not None
        next_metrics = 0.0
        next_prune = time.monotonic() + 30
        next_checkpoint = 0.0
        next_site = time.monotonic() + SITE_REREAD_S
        resumed = False
        while not gw.stopped.is_set():
            if not resumed and gw.link.ready.is_set():
                try:
                    self._resume()
                except Exception:
                    log.exception("recovery failed")
                resumed = True
            with gw.wake:
                wait = 0.2
                due = gw.core.next_deadline()
                if due is not None:
                    wait = min(wait, max(0.0, due - time.monotonic()))
                gw.wake.wait(wait)
            gw.step(lambda now: gw.core.tick(now))
            with gw.wake:
                gw.wake.notify_all()
            try:
                gw.link.flush_sent(gw.ledger)
                if gw.cache is not None:
                    gw.cache.flush()
                now = time.monotonic()
                if now >= next_metrics:
                    next_metrics = now + gw.cfg.metrics_interval_s
                    self._publish_metrics()
                if now >= next_checkpoint:
                    next_checkpoint = now + 1.0
                    self._storage()
                if now >= next_site and gw.cfg.devices.site_dir:
                    next_site = now + SITE_REREAD_S
                    self._reread_site()
                gw.edge_swapper.poll()  # a new [edge] model file: swapped in
                if now >= next_prune and gw.ledger is not None:
                    next_prune = now + 30
                    gw.ledger.prune()
            except Exception:
                log.exception("housekeeping step failed")
            if gw.stopping.is_set() and not gw.core.waiting:
                return

    def _reread_site(self) -> None:
        """Adopt the site's current devices (add-device / revoke-device need no restart)."""
        gw = self.gw
        try:
            devices = allowlist_of(gw.cfg.devices)
        except SiteError as exc:  # a half-written or removed registry: keep the last one
            log.warning("site registry unreadable; keeping the devices known before",
                        extra={"why": str(exc)[:200]})
            return
        gw.trust.set_allowlist(devices)

    def _storage(self) -> None:
        gw = self.gw
        for store in (gw.ledger, gw.cache, gw.spool):
            if store is not None:
                store.db.checkpoint()  # False (reported) when the disk refuses
                store.db.probe()  # a failing store: does it write again?
        # What the disk refused earlier goes to disk once it takes writes again.
        if gw.ledger is not None and gw.ledger.owes_writes:
            stored = gw.ledger.flush_memory()
            if stored:
                log.info("ledger frames kept in memory now stored", extra={"frames": stored})
        if gw.spool is not None:
            gw.spool.flush_owed()
        gw.storage.tick()
        gw.metrics.set("storage_degraded", float(bool(gw.storage.degraded())))
        if gw.ledger is not None:
            gw.metrics.set("ledger_memory_frames", gw.ledger.memory_frames)

    def _publish_metrics(self) -> None:
        gw = self.gw
        gw.field.publish_gauges()
        budget = gw.cfg.cloud.budget_messages
        gw.metrics.set("budget_messages", budget if math.isfinite(budget) else 0.0)
        if gw.batcher is not None:
            gw.metrics.set("edge_queue_depth", gw.batcher.depth)
        gw.metrics.set("pending_frames", gw.core.waiting)
        if gw.site is None or gw.link is None or not gw.link.ready.is_set():
            return
        values = {k: float(v) for k, v in gw.metrics.summary().items() if len(k) <= 128}
        msg = Metrics(service_id=gw.cfg.gateway_id, ts_ms=now_ms(), values=values)
        gw.site.publish(gw.topics.gateway_metrics(gw.cfg.gateway_id), encode(msg), qos=0,
                        retain=True)
        gw.dashboards.on_metrics(msg)
