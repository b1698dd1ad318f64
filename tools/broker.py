"""Start and stop real MQTT brokers: the test harness and the demo both use this.

``MosquittoBroker`` runs the local ``mosquitto`` binary on a free loopback port with
a generated config, waits until the broker answers an MQTT CONNECT, and can be
stopped, killed and restarted on the same port (persistence survives a restart).
``extra_config`` adds bridges, TLS listeners, ACLs and so on.

Where no ``mosquitto`` is installed but a Docker engine answers, ``start_broker``
falls back to testcontainers' eclipse-mosquitto image; otherwise it raises
:class:`BrokerUnavailable` saying how to install one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edgecascade.errors import ToolError

# MQTT 3.1.1 CONNECT with clean session, keepalive 5 s, client id "ec-probe".
_PROBE_CONNECT = bytes.fromhex("101400044d5154540402000500086563 2d70726f6265".replace(" ", ""))
_CONNACK_OK = bytes.fromhex("20020000")
INSTALL_HINT = (
    "no MQTT broker available: install mosquitto (Debian/Ubuntu: 'sudo apt-get install "
    "mosquitto'; macOS: 'brew install mosquitto') or run a Docker engine"
)


class BrokerUnavailable(ToolError, RuntimeError):
    """Neither a mosquitto binary nor a Docker engine is available."""


class BrokerFailed(ToolError, RuntimeError):
    """The broker process exited or never became ready; the message holds its log tail."""


class Broker(Protocol):
    host: str
    port: int

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def probe_mqtt(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when an MQTT broker at host:port accepts a CONNECT."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(_PROBE_CONNECT)
            reply = b""
            while len(reply) < 4:
                chunk = s.recv(4 - len(reply))
                if not chunk:
                    return False
                reply += chunk
            s.sendall(b"\xe0\x00")  # DISCONNECT
            return reply == _CONNACK_OK
    except OSError:
        return False


def wait_ready(host: str, port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe_mqtt(host, port):
            return True
        time.sleep(0.05)
    return False


@dataclass
class MosquittoBroker:
    """One mosquitto process. ``workdir`` holds its config, log and persistence."""

    workdir: Path
    port: int = 0
    host: str = "127.0.0.1"
    extra_config: str = ""
    persistence: bool = True
    binary: str = "mosquitto"
    max_queued_messages: int = 200_000
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def config_text(self) -> str:
        lines = [
            # Started as root, mosquitto drops to user "mosquitto", which cannot write
            # the log or the persistence file in our (private) work directory.
            *(["user root"] if os.geteuid() == 0 and not self._sets("user") else []),
            "per_listener_settings false",
            "allow_anonymous true",
            f"listener {self.port} {self.host}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
            "set_tcp_nodelay true",
            f"max_queued_messages {self.max_queued_messages}",
            "max_inflight_messages 200",
        ]
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "autosave_interval 1",
            ]
        return "\n".join(lines) + "\n" + self.extra_config + "\n"

    def _sets(self, option: str) -> bool:
        """Whether ``extra_config`` sets ``option`` itself."""
        return any(line.split()[:1] == [option] for line in self.extra_config.splitlines())

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until it answers a CONNECT.

        A fresh port is tried again when the process exits at once (another process
        took the port); a fixed port (a restart) is retried for a few seconds while the
        previous process's socket is released.
        """
        if self.running:
            return
        if shutil.which(self.binary) is None:
            raise BrokerUnavailable(INSTALL_HINT)
        self.workdir.mkdir(parents=True, exist_ok=True)
        fixed_port = self.port != 0
        why = ""
        for _attempt in range(10 if fixed_port else 5):
            if not fixed_port:
                self.port = free_port(self.host)
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(self.config_text())
            proc = self._proc = subprocess.Popen(
                [self.binary, "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if probe_mqtt(self.host, self.port):
                    return
                time.sleep(0.05)
            exited = proc.poll() is not None
            why = self.log_tail()
            self._terminate(signal.SIGKILL)
            if not exited:
                break  # running but never answered: retrying will not help
            if fixed_port:
                time.sleep(0.5)
        raise BrokerFailed(f"mosquitto did not become ready on port {self.port}: {why}")

    def log_tail(self, lines: int = 20) -> str:
        err = b""
        proc = self._proc
        if proc is not None and proc.stderr is not None and proc.poll() is not None:
            with contextlib.suppress(OSError, ValueError):
                err = proc.stderr.read() or b""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        tail = "\n".join(text.splitlines()[-lines:])
        return (err.decode(errors="replace") + "\n" + tail).strip()

    def _terminate(self, sig: int) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
        self._proc = None

    def stop(self) -> None:
        """Graceful stop: mosquitto saves its persistence file."""
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        """Crash stop: SIGKILL, as a power cut would."""
        self._terminate(signal.SIGKILL)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop and start again on the same port, keeping persisted sessions."""
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class ContainerBroker:
    """Fallback: eclipse-mosquitto in Docker through testcontainers."""

    host: str = "127.0.0.1"
    port: int = 0
    _container: object | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        from testcontainers.mqtt import MosquittoContainer

        container = MosquittoContainer()
        container.start()
        self._container = container
        self.host = container.get_container_host_ip()
        self.port = int(container.get_exposed_port(MosquittoContainer.MQTT_PORT))
        if not wait_ready(self.host, self.port):
            raise BrokerFailed("mosquitto container did not become ready")

    def stop(self) -> None:
        if self._container is not None:
            self._container.stop()  # type: ignore[attr-defined]
            self._container = None


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        out = subprocess.run(["docker", "info"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def make_broker(workdir: Path, **kwargs: object) -> MosquittoBroker | ContainerBroker:
    """A local mosquitto if installed, else a container, else ``BrokerUnavailable``."""
    if shutil.which("mosquitto") is not None:
        return MosquittoBroker(workdir, **kwargs)  # type: ignore[arg-type]
    if docker_available():
        return ContainerBroker()
    raise BrokerUnavailable(INSTALL_HINT)
