"""Group commit (shell): reports validated on the site network thread are admitted in
batches, one ledger transaction per batch, and acknowledged after its commit.

Everything happens on paho's network thread, with no hand-off to another thread (a
wake-up per report cost more than the transaction it saved). :mod:`.intake` decodes and
checks a report and adds it here as a :class:`Taken` report; the batch is committed

* after a read burst (:meth:`after_read`, called by the site client after each
  ``loop_read``) once nothing more arrives within what is left of the batch's wait: its
  first report waits at most ``MAX_WAIT_S`` (1 ms) for others to share its transaction,
  so every report already available is in it, and at a paced rate (2,500/s: one every
  0.4 ms) two or three reports share one;
* when it holds ``max_batch`` reports, or its first report waited ``MAX_WAIT_S`` while
  more kept arriving.

The wait trades at most 1 ms of a report's latency for fewer transactions
(``docs/performance.md``: CPU per answer at paced rates).

Committing builds the batch's arrivals, admits them all at once
(:meth:`.service.Gateway.admit`: one SQLite transaction) and only then sends their
PUBACKs. So "durable before ack" holds per batch: no report is acknowledged before the
transaction that stores it (or its answer) committed, and the results the batch made
were published before its acks. While the thread commits it does not read: the broker
holds further reports (backpressure, nothing dropped).

A report whose handling failed is not acknowledged (the broker redelivers it): an
arrival that cannot be built fails that report alone; an admission that raises fails the
whole batch (each report counted ``rejected_total{reason="internal"}``). Once the
gateway stops, reports not yet committed are not admitted and not acknowledged. A
report taken on one connection is never acknowledged on a later one (packet ids are
reused across connections): the broker redelivers it to the session instead.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from edgecascade.protocol import Report

if TYPE_CHECKING:
    from .service import Gateway

log = logging.getLogger("edgecascade.gateway")

#: Reports admitted in one transaction at most.
MAX_BATCH = 256
#: The most a batch's first report may wait for others (what the group commit promises: 1 ms).
WAIT_LIMIT_S = 0.001
#: How long a batch's first report waits for others to share its transaction.
MAX_WAIT_S = WAIT_LIMIT_S


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


def more_waiting(sock: Any, wait_s: float = 0.0) -> bool:
    """Whether the socket has bytes we have not read yet (TLS: decrypted or raw), waiting
    up to ``wait_s`` for them."""
    if sock is None:
        return False
    pending = getattr(sock, "pending", None)
    if pending is not None and pending() > 0:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], wait_s)
    except (OSError, ValueError, TypeError):
        return False  # closed under us: commit what we have
    return bool(readable)


class Committer:
    def __init__(self, gw: Gateway, *, max_batch: int = MAX_BATCH,
                 max_wait_s: float = MAX_WAIT_S) -> None:
        if not 0.0 <= max_wait_s <= WAIT_LIMIT_S:
            raise ValueError(f"max_wait_s must be within 0..{WAIT_LIMIT_S * 1000:g} ms")
        self.gw = gw
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._batch: list[Taken] = []
        self._lock = threading.Lock()  # held while committing: stop() waits for it
        self._closed = False

    def add(self, item: Taken) -> None:
        """A report to admit (network thread): committed with the batch it joins."""
        self._batch.append(item)
        if (len(self._batch) >= self.max_batch
                or item.received - self._batch[0].received >= self.max_wait_s):
            self.flush()

    def after_read(self, sock: Any) -> None:
        """After a read burst (network thread): commit unless more arrives within what is
        left of the first report's wait."""
        if not self._batch:
            return
        left = self.max_wait_s - (time.monotonic() - self._batch[0].received)
        if left <= 0 or not more_waiting(sock, left):
            self.flush()

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        with self._lock:
            if self._closed or self.gw.stopping.is_set():
                return  # not acknowledged: redelivered to the next session
            self._commit(batch)

    def stop(self) -> None:
        """Finish the batch being committed; what is not committed yet is not acknowledged."""
        with self._lock:
            self._closed = True
        self._batch = []

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
