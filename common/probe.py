"""Is the broker there? Checks a command runs before it starts, so that an operator gets
one clear line ("site broker mqtt://10.0.0.5:1883: connection refused") instead of a
process that retries in silence.

The probe opens a TCP connection (and the TLS handshake for ``mqtts://``, with the
same context the client will use) and sends nothing at the MQTT level: an MQTT
CONNECT would need a client id, and a clean-session CONNECT under the real id would
discard the persistent session that holds the messages queued while the service was
away. Authentication problems therefore show when the real client connects.

    why = reach(settings)                      # None when reachable, else the reason
    why = await_broker(settings, stop, wait=True, what="site broker")
"""

from __future__ import annotations

import logging
import socket
import ssl
import statistics
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from edgecascade.mqtt import BrokerSettings, tls_context

log = logging.getLogger("edgecascade.probe")

#: Returned by :func:`await_broker` when the stop event was set while waiting.
STOPPED = "stopped"


def reach(settings: BrokerSettings, timeout: float = 3.0) -> str | None:
    """None when a TCP (and, for ``mqtts``, TLS) connection opens; else why not.

    Raises :class:`edgecascade.mqtt.SettingsError` for TLS files that cannot be loaded
    (a configuration error, not an unreachable broker).
    """
    context = tls_context(settings) if settings.tls else None
    try:
        sock = socket.create_connection((settings.host, settings.port), timeout=timeout)
    except socket.gaierror as exc:
        return f"cannot resolve {settings.host!r}: {exc.strerror or exc}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    try:
        if context is not None:
            try:
                with context.wrap_socket(sock, server_hostname=settings.host):
                    pass
            except ssl.SSLCertVerificationError as exc:
                return f"TLS: server certificate not trusted ({exc.verify_message})"
            except (ssl.SSLError, OSError) as exc:
                return f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}"
    finally:
        sock.close()
    return None


def await_broker(settings: BrokerSettings, stop: threading.Event, *, wait: bool,
                 what: str = "broker", timeout: float = 3.0, max_backoff: float = 10.0,
                 on_retry: Callable[[str, float], None] | None = None) -> str | None:
    """Check the broker once, or (``wait``) until it answers or ``stop`` is set.

    Returns None when reachable, :data:`STOPPED` when stopped while waiting, else the
    reason it is not reachable (only without ``wait``).
    """
    backoff = 0.5
    while not stop.is_set():
        why = reach(settings, timeout)
        if why is None:
            return None
        if not wait:
            return why
        if on_retry is not None:
            on_retry(why, backoff)
        else:
            log.warning(f"{what} not reachable, retrying",
                        extra={"broker": settings.url, "why": why, "retry_s": backoff})
        if stop.wait(backoff):
            break
        backoff = min(backoff * 2, max_backoff)
    return STOPPED


def unreachable_line(command: str, what: str, settings: BrokerSettings, why: str) -> str:
    """The one line printed for an unreachable broker."""
    return (f"{command}: {what} {settings.url}: {why} "
            f"(start it, fix the URL, or pass --wait to retry until it answers)")


# -- Nagle check ---------------------------------------------------------------------------
# A broker that leaves Nagle's algorithm on (mosquitto's default: set_tcp_nodelay false)
# holds a small packet while an earlier one to the same client is unacknowledged, and
# a client that just sent data delays its ACK by ~40 ms (Linux). A gateway is exactly
# such a client: the PUBACK for its last result is followed by the next device report,
# which then waits ~40 ms. The check reproduces that sequence on two probe connections
# (raw MQTT 3.1.1, so it needs no paho and measures only the broker) and compares the
# delivery time with a plain PINGREQ round trip.
#
# The probe never logs in (no username, password or client certificate): a broker that
# sets the client id from the login (mosquitto's use_username_as_clientid, or a
# certificate mapped to a username) would give the probe's clean-session connections
# the service's own client id, discarding its persistent session and the messages queued
# in it. A broker that refuses anonymous clients (every site made by `edgecascade site
# init`, which also sets set_tcp_nodelay) is simply not measured.

#: Delivery this much slower than the round trip (ms) is taken for Nagle's delay.
NAGLE_SUSPECT_MS = 15.0


@dataclass(frozen=True)
class NagleReading:
    rtt_ms: float  # median PINGREQ -> PINGRESP
    delivery_ms: float  # median publish -> delivery right after a PUBACK to the receiver

    @property
    def suspect(self) -> bool:
        return self.delivery_ms - self.rtt_ms > NAGLE_SUSPECT_MS


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _connect_packet(settings: BrokerSettings, client_id: str) -> bytes:
    flags = 0x02  # clean session: the probe ids keep nothing on the broker
    tail = _str(client_id)
    if settings.username is not None:
        flags |= 0x80
        tail += _str(settings.username)
        if settings.password is not None:
            flags |= 0x40
            tail += _str(settings.password)
    return _packet(0x10, _str("MQTT") + bytes([4, flags]) + struct.pack(">H", 30) + tail)


def _read_packet(sock: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the probe connection")
            buf += chunk
        return buf

    first = exactly(1)[0]
    length, shift = 0, 0
    while True:
        digit = exactly(1)[0]
        length |= (digit & 0x7F) << shift
        shift += 7
        if not digit & 0x80:
            break
    return first & 0xF0, exactly(length)


def _open(settings: BrokerSettings, client_id: str, timeout: float) -> socket.socket:
    sock = socket.create_connection((settings.host, settings.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if settings.tls:
        sock = tls_context(settings).wrap_socket(sock, server_hostname=settings.host)
    sock.sendall(_connect_packet(settings, client_id))
    kind, body = _read_packet(sock)
    if kind != 0x20 or body[-1:] != b"\x00":
        sock.close()
        raise ConnectionError(f"probe CONNECT refused ({body.hex()})")
    return sock


def measure_nagle(settings: BrokerSettings, client_id: str, *, samples: int = 5,
                  timeout: float = 2.0) -> NagleReading:
    """Measure the sequence described above; raises OSError/ConnectionError on failure."""
    topic = f"edgecascade-probe/{client_id}"
    receiver = _open(settings, f"{client_id}-r", timeout)
    try:
        sender = _open(settings, f"{client_id}-s", timeout)
        try:
            receiver.sendall(_packet(0x82, struct.pack(">H", 1) + _str(topic) + b"\x00"))
            kind, body = _read_packet(receiver)
            if kind != 0x90 or body[-1:] == b"\x80":
                raise ConnectionError(f"probe subscription to {topic} refused")
            rtts, deliveries = [], []
            for i in range(samples):
                t0 = time.perf_counter()
                sender.sendall(b"\xc0\x00")  # PINGREQ
                _read_packet(sender)
                rtts.append(time.perf_counter() - t0)
                # The receiver publishes (QoS 1, to a topic nobody reads) and gets a PUBACK
                # it does not answer: its ACK is now delayed. Then a message for it.
                receiver.sendall(_packet(0x32, _str(topic + "/x") + struct.pack(">H", i + 2)
                                         + b"probe"))
                while _read_packet(receiver)[0] != 0x40:
                    pass
                t0 = time.perf_counter()
                sender.sendall(_packet(0x30, _str(topic) + b"probe"))
                while _read_packet(receiver)[0] != 0x30:
                    pass
                deliveries.append(time.perf_counter() - t0)
            sender.sendall(b"\xe0\x00")
        finally:
            sender.close()
        receiver.sendall(b"\xe0\x00")
    finally:
        receiver.close()
    return NagleReading(rtt_ms=statistics.median(rtts) * 1000,
                        delivery_ms=statistics.median(deliveries) * 1000)


def anonymous(settings: BrokerSettings) -> BrokerSettings:
    """``settings`` without any login: the same broker, TLS and CA, no identity."""
    return replace(settings, username=None, password=None, cert_file=None, key_file=None)


def warn_if_nagle(settings: BrokerSettings, client_id: str, *, what: str = "broker") -> (
        NagleReading | None):
    """Log a warning when the broker adds Nagle-sized delays; None when not measured.
    Measured anonymously (see above): never with the service's login."""
    settings = anonymous(settings)
    try:
        reading = measure_nagle(settings, client_id)
    except (OSError, ConnectionError, ssl.SSLError, ValueError) as exc:
        log.debug("broker latency check skipped", extra={"broker": settings.url,
                                                          "why": str(exc)})
        return None
    if reading.suspect:
        log.warning(
            f"{what} delays back-to-back messages by ~{reading.delivery_ms:.0f} ms "
            f"(round trip {reading.rtt_ms:.1f} ms): Nagle's algorithm is on; set "
            f"'set_tcp_nodelay true' in its mosquitto.conf (see deploy/mosquitto/)",
            extra={"broker": settings.url, "delivery_ms": round(reading.delivery_ms, 2),
                   "rtt_ms": round(reading.rtt_ms, 2)})
    else:
        log.debug("broker latency check", extra={
            "broker": settings.url, "delivery_ms": round(reading.delivery_ms, 2),
            "rtt_ms": round(reading.rtt_ms, 2)})
    return reading
