"""One thread driving many virtual devices: a selector over their paho sockets.

paho's external-loop API (``loop_read``/``loop_write``/``loop_misc``, the
``on_socket_open``/``on_socket_close`` callbacks, ``want_write()``) lets one thread
run hundreds of MQTT sessions, where ``loop_start()`` would cost a thread each.
Publishing happens on this thread only, outside paho callbacks, so paho writes to
the socket at once; a partial write registers for writability until drained.

Reports are scheduled per device at ``rate`` Hz, staggered over the first period.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import random
import selectors
import threading
import time
from typing import Any

from .device import VirtualDevice

log = logging.getLogger(__name__)

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
#: How often keepalives and reconnects are looked after (seconds).
MISC_INTERVAL = 0.5


class Driver(threading.Thread):
    def __init__(
        self,
        devices: list[VirtualDevice],
        rate: float,
        *,
        reports: int | None = None,
        name: str = "emulator-driver",
    ) -> None:
        super().__init__(name=name, daemon=True)
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self.devices = devices
        self.rate = rate
        self.reports = reports
        self._sel = selectors.DefaultSelector()
        self._writing: set[int] = set()
        self._stop_ticks = threading.Event()
        self._halt = threading.Event()
        self._crash = False
        self._drain_deadline = 0.0
        self.errors = 0
        for device in devices:
            device.client.user_data_set(device)
            device.client.on_socket_open = self._socket_open
            device.client.on_socket_close = self._socket_close

    # -- socket bookkeeping ---------------------------------------------------------
    def _socket_open(self, client: Any, device: VirtualDevice, sock: Any) -> None:
        self._sel.register(sock, READ, device)

    def _socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)
        self._writing.discard(id(sock))

    def _sync_write(self, device: VirtualDevice) -> None:
        sock = device.client.socket()
        if sock is None:
            return
        if device.client.want_write():
            device.client.loop_write()
        want = device.client.want_write()
        key = id(sock)
        if want and key not in self._writing:
            self._sel.modify(sock, READ | WRITE, device)
            self._writing.add(key)
        elif not want and key in self._writing:
            self._sel.modify(sock, READ, device)
            self._writing.discard(key)

    # -- control ------------------------------------------------------------------------
    def stop(self, drain_timeout: float = 10.0, crash: bool = False) -> None:
        """Stop making reports, let in-flight ones finish (up to ``drain_timeout``), leave.

        ``crash=True`` drops every connection without DISCONNECT (the broker sends
        the wills) and does not drain.
        """
        self._crash = crash
        self._drain_deadline = time.monotonic() + (0.0 if crash else drain_timeout)
        self._stop_ticks.set()
        self._halt.set()

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception:  # never die silently: counted and logged
            self.errors += 1
            log.exception("emulator driver failed", extra={"thread": self.name})
            with contextlib.suppress(Exception):
                self._leave()

    def _run(self) -> None:
        start = time.monotonic()
        for device in self.devices:
            device.connect(start)
            self._sync_write(device)
        period = 1.0 / self.rate if self.rate > 0 else 0.0
        heap: list[tuple[float, int]] = []
        if period:
            heap = [(start + random.uniform(0, period), i) for i in range(len(self.devices))]
            heapq.heapify(heap)
        next_misc = start + MISC_INTERVAL
        while True:
            now = time.monotonic()
            if self._halt.is_set() and (
                self._crash or now >= self._drain_deadline or all(d.idle for d in self.devices)
            ):
                break
            timeout = next_misc - now
            if heap and not self._stop_ticks.is_set():
                timeout = min(timeout, heap[0][0] - now)
            touched: set[VirtualDevice] = set()
            for key, mask in self._sel.select(max(0.0, min(timeout, MISC_INTERVAL))):
                device = key.data
                touched.add(device)
                try:
                    if mask & READ:
                        device.client.loop_read()
                    if mask & WRITE and device.client.socket() is not None:
                        device.client.loop_write()
                except Exception:
                    self._fault(device)
            now = time.monotonic()
            while heap and heap[0][0] <= now and not self._stop_ticks.is_set():
                due, i = heapq.heappop(heap)
                device = self.devices[i]
                touched.add(device)
                try:
                    device.tick()
                except Exception:
                    self._fault(device)
                if self.reports is None or device.stats.made < self.reports:
                    # keep the schedule; after a stall, skip ahead rather than burst
                    nxt = due + period
                    heapq.heappush(heap, (nxt if nxt > now - period else now + period, i))
            if now >= next_misc:
                next_misc = now + MISC_INTERVAL
                for device in self.devices:
                    touched.add(device)
                    try:
                        if device.client.socket() is not None:
                            device.client.loop_misc()
                        elif now >= device.next_connect:
                            device.connect(now)
                    except Exception:
                        self._fault(device)
            for device in touched:
                try:
                    if device.needs_service or device.connected:
                        device.service()
                    self._sync_write(device)
                except Exception:
                    self._fault(device)
        self._leave()

    def _fault(self, device: VirtualDevice) -> None:
        """One device's unexpected error: counted and logged; the others go on."""
        self.errors += 1
        log.exception("emulated device failed", extra={"device_id": device.device_id})

    def _leave(self) -> None:
        for device in self.devices:
            if self._crash:
                device.crash()
            else:
                device.goodbye()
            sock = device.client.socket()
            if sock is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(sock)
                if not self._crash:
                    device.client.loop_write()
            if self._crash and device.client.socket() is not None:
                device.client.socket().close()  # type: ignore[union-attr]
        self._sel.close()
