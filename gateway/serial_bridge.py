"""Serial bridge: framed reports from USB-attached boards -> the broker.

Boards without a network write each report as a COBS frame with a CRC
(``edgecascade.protocol.framing``, twin of ``firmware/core/ec_framing.c``). The bridge
reads the port with pyserial, resyncs on the next 0x00 after garbage, decodes each
frame as a ``Report`` and publishes the exact bytes on ``device_report(id)`` at QoS 1,
as if the device had. It runs alone (``edgecascade serial-bridge``) or inside the
gateway (``SerialBridge(...).start()`` with the gateway's paho client).

Nothing is lost silently:

* a bad frame (garbage, bad COBS, bad CRC, too long) -> ``stats.bad_frames``;
* a frame that is not a valid report -> ``stats.bad_reports`` (by ``ProtocolError.reason``);
* a frame cut by an unplug -> counted as a bad frame when the port closes;
* while the broker is away, paho queues up to ``queue_limit`` reports; beyond that a
  report is refused and counted in ``stats.dropped``.

Unplug/replug: a read error closes the port; it is reopened with exponential
backoff (``min_backoff``..``max_backoff``) until it comes back.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from paho.mqtt.client import MQTT_ERR_QUEUE_SIZE

from edgecascade.lifecycle import stop_signals
from edgecascade.protocol.framing import Deframer
from edgecascade.protocol.limits import DEFAULT_SITE_PAYLOAD_BYTES
from edgecascade.protocol.topics import DEFAULT_PREFIX

log = logging.getLogger(__name__)

DEFAULT_QUEUE_LIMIT = 1000


@dataclass
class BridgeStats:
    bytes_read: int = 0
    frames: int = 0
    published: int = 0
    acked: int = 0
    bad_frames: int = 0
    bad_reports: int = 0
    dropped: int = 0
    opens: int = 0
    open_failures: int = 0
    unplugs: int = 0
    rejections: Counter[str] = field(default_factory=Counter)


class SerialBridge:
    def __init__(
        self,
        port: str,
        topics: Any,
        *,
        settings: Any = None,
        client: Any = None,
        baudrate: int = 115200,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
        client_id: str = "serial-bridge",
        max_report_bytes: int = DEFAULT_SITE_PAYLOAD_BYTES,
    ) -> None:
        if (settings is None) == (client is None):
            raise ValueError("give exactly one of settings (own connection) and client")
        self.port = port
        self.topics = topics
        self.baudrate = baudrate
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.stats = BridgeStats()
        self.port_open = threading.Event()
        # anymodel: room for a report of the site's size (COBS adds 1 byte in 254, plus
        # the CRC and delimiters), not one 28x28 frame
        self.max_report_bytes = max_report_bytes
        self._deframer = Deframer(max_report_bytes + max_report_bytes // 254 + 8)
        self._bad_before = 0
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._own_client = client is None
        if client is None:
            from edgecascade.mqtt import make_client

            self.settings = settings
            client = make_client(settings, client_id)
            client.max_queued_messages_set(queue_limit)
            client.on_publish = self._on_publish
        self.client = client

    # -- MQTT ---------------------------------------------------------------------------
    def _on_publish(self, client: Any, userdata: Any, mid: int, *rest: Any) -> None:
        # Our own client publishes reports only, so every PUBACK is a report's. Never
        # take a lock here that is held around publish(): paho holds its own lock
        # while calling back, and publish() needs it (lock-order inversion).
        with self._lock:
            self.stats.acked += 1

    def _publish(self, payload: bytes) -> None:
        from edgecascade.protocol import ProtocolError, Report, decode

        try:
            report = decode(Report, payload, self.max_report_bytes)
            topic = self.topics.device_report(report.device_id)
        except ProtocolError as exc:
            self.stats.bad_reports += 1
            self.stats.rejections[exc.reason] += 1
            log.warning("bad report on serial", extra={"port": self.port, "error": exc.reason,
                                                       "why": exc.why})
            return
        info = self.client.publish(topic, payload, qos=1)
        if info.rc == MQTT_ERR_QUEUE_SIZE:  # paho's bounded queue is full
            self.stats.dropped += 1
            return
        self.stats.published += 1

    # -- serial ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes from the line -> reports published (also usable without a port)."""
        self.stats.bytes_read += len(data)
        payloads = self._deframer.feed(data)
        # Count the chunk's bad frames before publishing its reports, so a reader that sees
        # a report's effect (published, bad_reports) also sees every bad frame before it.
        self.stats.bad_frames = self._deframer.bad_frames
        for payload in payloads:
            self.stats.frames += 1
            self._publish(payload)

    def _run(self) -> None:
        import serial

        backoff = self.min_backoff
        while not self._halt.is_set():
            try:
                ser = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.2)
            except (serial.SerialException, OSError, ValueError) as exc:
                self.stats.open_failures += 1
                log.debug("serial open failed", extra={"port": self.port, "error": str(exc)})
                self._halt.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = self.min_backoff
            self.stats.opens += 1
            self.port_open.set()
            log.info("serial port open", extra={"port": self.port})
            try:
                while not self._halt.is_set():
                    data = ser.read(max(1, min(ser.in_waiting, 4096)))
                    if data:
                        self.feed(data)
            except (serial.SerialException, OSError) as exc:
                self.stats.unplugs += 1
                log.warning("serial port lost", extra={"port": self.port, "error": str(exc)})
            finally:
                self.port_open.clear()
                self.feed(b"\x00")  # a frame cut by the unplug ends here, counted as bad
                with contextlib.suppress(serial.SerialException, OSError):
                    ser.close()

    def start(self) -> SerialBridge:
        if self._own_client:
            self.client.connect_async(self.settings.host, self.settings.port,
                                      keepalive=self.settings.keepalive)
            self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="serial-bridge", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> BridgeStats:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._own_client:
            self.client.disconnect()
            self.client.loop_stop()
        return self.stats


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serial-bridge", help="publish framed reports from USB serial boards to the broker",
        description="Read COBS-framed reports from a serial port and publish each on its "
        "device's report topic (QoS 1). An unplugged port is reopened until it returns. "
        "At start, a port that cannot be opened or an unreachable broker is an error "
        "(exit 1) unless --wait is given. SIGTERM or Ctrl-C stops it with exit 0.")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="broker URL")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix <root>/v<N>")
    p.add_argument("--baud", type=int, default=115200, help="serial line speed")
    p.add_argument("--wait", action="store_true",
                   help="at start, retry until the port opens and the broker answers")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="seconds to run (default: until SIGTERM or Ctrl-C)")
    p.set_defaults(func=run)


def _port_problem(port: str, baudrate: int) -> str | None:
    """None when the port opens now (it is closed again at once), else why not."""
    import serial

    try:
        serial.serial_for_url(port, baudrate=baudrate, timeout=0.2).close()
    except (serial.SerialException, OSError, ValueError) as exc:
        cause = exc.__context__ if isinstance(exc.__context__, OSError) else exc
        return getattr(cause, "strerror", None) or str(exc)
    return None


def run(args: argparse.Namespace) -> int:
    import sys

    from edgecascade.mqtt import BrokerSettings, SettingsError
    from edgecascade.probe import STOPPED, await_broker, unreachable_line
    from edgecascade.protocol import ProtocolError, Topics

    try:
        settings = BrokerSettings(args.broker)
        bridge = SerialBridge(args.port, Topics(args.prefix), settings=settings,
                              baudrate=args.baud)
    except (SettingsError, ProtocolError, ValueError) as exc:
        print(f"serial-bridge: {exc}", file=sys.stderr)
        return 2
    with stop_signals() as done:
        why = _port_problem(args.port, args.baud)
        if why is not None and not args.wait:
            print(f"serial-bridge: cannot open {args.port}: {why} (check the cable and the "
                  f"port name, or pass --wait to wait for it)", file=sys.stderr)
            return 1
        why = await_broker(settings, done, wait=args.wait)
        if why == STOPPED:
            return 0
        if why is not None:
            print(unreachable_line("serial-bridge", "broker", settings, why), file=sys.stderr)
            return 1
        bridge.start()
        done.wait(args.duration)
        s = bridge.stop()
    print(f"frames={s.frames} published={s.published} acked={s.acked} bad_frames={s.bad_frames} "
          f"bad_reports={s.bad_reports} dropped={s.dropped} opens={s.opens} unplugs={s.unplugs}")
    return 0
