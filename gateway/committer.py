"""Group commit (shell): reports validated on the site network thread are admitted in
batches, one ledger transaction per batch, and acknowledged after its commit.

The network thread (:mod:`.intake`) decodes and checks a report and hands it here as a
:class:`Taken` report; it blocks while the queue is full (backpressure: paho stops
reading, the broker holds the reports; nothing is dropped). One committer thread takes
every report waiting (at most ``max_batch``, waiting at most ``linger_s`` for more once
the queue is empty), builds their arrivals, admits them all at once
(:meth:`.service.Gateway.admit`: one SQLite transaction), and only then sends their
PUBACKs. So "durable before ack" holds per batch: no report is acknowledged before the
transaction that stores it (or its answer) committed, and the results the batch made
were published before its acks.

A report whose handling failed is not acknowledged (the broker redelivers it): an
arrival that cannot be built fails that report alone; an admission that raises fails the
whole batch (each report counted ``rejected_total{reason="internal"}``). While the
gateway stops, reports still queued are not admitted and not acknowledged. A report
taken on one connection is never acknowledged on a later one (packet ids are reused
across connections): the broker redelivers it to the session instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt

from edgecascade.protocol import Report

if TYPE_CHECKING:
    from .service import Gateway

log = logging.getLogger("edgecascade.gateway")

#: Reports admitted in one transaction at most.
MAX_BATCH = 256
#: Reports waiting for the committer before the network thread blocks (backpressure).
CAPACITY = 1024
#: How long the committer waits for more reports once the queue is empty (<= 1 ms).
LINGER_S = 0.0


@dataclass(frozen=True)
class Taken:
    """A report validated on the network thread, waiting to be admitted and acked."""

    report: Report
    payload: bytes
    received: float  # monotonic, at receipt
    received_ms: int  # wall clock, at receipt
    pixels: object
    client: mqtt.Client
    mid: int
    qos: int
    session: int  # the site connection it came on (:attr:`.site.SiteLink.session`)


class Committer:
    def __init__(self, gw: Gateway, *, max_batch: int = MAX_BATCH, capacity: int = CAPACITY,
                 linger_s: float = LINGER_S) -> None:
        if not 0.0 <= linger_s <= 0.001:
            raise ValueError("linger_s must be within 0..1 ms")
        self.gw = gw
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._q: queue.Queue[Taken] = queue.Queue(capacity)
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def put(self, item: Taken) -> bool:
        """Queue a report (network thread); blocks while full. False when stopping (the
        report is then not acknowledged)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gw-commit", daemon=True)
            self._thread.start()
        while not self.gw.stopping.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batch in hand; what is still queued is not acknowledged."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        q = self._q
        while not self._closed.is_set():
            try:
                batch = [q.get(timeout=0.1)]
            except queue.Empty:
                continue
            until = time.monotonic() + self.linger_s  # one bound for the whole batch
            while len(batch) < self.max_batch:
                try:
                    left = until - time.monotonic()
                    batch.append(q.get(timeout=left) if left > 0 else q.get_nowait())
                except queue.Empty:
                    break
            if self.gw.stopping.is_set():
                continue  # not acknowledged: redelivered to the next session
            self._commit(batch)

    def _commit(self, batch: list[Taken]) -> None:
        gw = self.gw
        arrivals, ok = [], []
        for t in batch:
            try:
                arrivals.append(gw.arrival(t.report, t.payload, t.received, t.received_ms,
                                           t.pixels))
                ok.append(t)
            except Exception:
                self._failed([t], "report handling failed")
        try:
            if arrivals:
                gw.admit(arrivals)
        except Exception:
            self._failed(ok, "batch admission failed")
            return
        link = gw.link
        for t in ok:
            if t.qos > 0 and link is not None:
                link.ack(t.client, t.mid, t.qos, t.session)

    def _failed(self, items: list[Taken], what: str) -> None:
        """Not acknowledged: not durable. Redelivered on the next session."""
        for _ in items:
            self.gw.metrics.inc("rejected", reason="internal")
        log.exception(what, extra={"reports": len(items),
                                   "device_id": items[0].report.device_id if items else ""})
