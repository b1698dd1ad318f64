"""Run a site's brokers with exactly the configs ``edgecascade site init`` wrote.

Tests and ``edgecascade demo --secure`` use this, so the secure path exercised is the one
shipped. Ready means: a TLS handshake against the site CA succeeds and an anonymous MQTT
CONNECT is answered with "not authorized" (return code 5) -- the broker is up and
refusing anonymous clients.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgecascade.tools.broker import INSTALL_HINT, BrokerFailed, BrokerUnavailable

from .acl import BrokerFiles
from .store import SiteFolder

# MQTT 3.1.1 CONNECT, clean session, keepalive 5 s, client id "ec-probe", no username.
_PROBE_CONNECT = bytes.fromhex("101400044d515454040200050008" + b"ec-probe".hex())


def connack_code(host: str, port: int, ca_file: Path, timeout: float = 1.0) -> int | None:
    """The return code an anonymous CONNECT gets over TLS; None if no broker answers."""
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(_PROBE_CONNECT)
            reply = b""
            while len(reply) < 4:
                chunk = s.recv(4 - len(reply))
                if not chunk:
                    return None
                reply += chunk
            return reply[3] if reply[:2] == b"\x20\x02" else None
    except (OSError, ssl.SSLError):
        return None


@dataclass
class RunningBroker:
    files: BrokerFiles
    ca_file: Path
    host: str
    binary: str = "mosquitto"
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"mqtts://{self.host}:{self.files.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 20.0) -> None:
        binary = shutil.which(self.binary) or shutil.which(f"/usr/sbin/{self.binary}")
        if binary is None:
            raise BrokerUnavailable(INSTALL_HINT)
        self._proc = subprocess.Popen([binary, "-c", str(self.files.conf)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._proc.poll() is None:
            if connack_code(self.host, self.files.port, self.ca_file) == 5:
                return
            time.sleep(0.05)
        err = b""
        if self._proc.poll() is not None and self._proc.stderr is not None:
            err = self._proc.stderr.read() or b""
        self.stop()
        log = self.files.folder / "mosquitto.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        raise BrokerFailed(f"secure mosquitto on {self.files.port} not ready: "
                           f"{err.decode(errors='replace')} {tail}".strip())

    def reload(self) -> None:
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGHUP)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


class SiteBrokers:
    """The site broker and the cloud broker of one site folder."""

    def __init__(self, folder: SiteFolder, host: str | None = None) -> None:
        self.folder = folder
        host = host or folder.layout().hosts[0]
        self.site = RunningBroker(folder.broker(False), folder.ca_crt, host)
        self.cloud = RunningBroker(folder.broker(True), folder.ca_crt, host)

    @property
    def site_url(self) -> str:
        return self.site.url

    @property
    def cloud_url(self) -> str:
        return self.cloud.url

    def start(self) -> None:
        self.site.start()
        try:
            self.cloud.start()
        except BaseException:
            self.site.stop()
            raise

    def wait(self) -> None:
        while self.site._proc is not None and self.site._proc.poll() is None:
            time.sleep(0.5)

    def stop(self) -> None:
        self.cloud.stop()
        self.site.stop()
