"""Start and stop real MQTT brokers: the test harness and the demo both use this.

``MosquittoBroker`` runs the local ``mosquitto`` binary on a free loopback port with
a generated config, waits until the broker answers an MQTT CONNECT, and can be
stopped, killed and restarted on the same port (persistence survives a restart).
``extra_config`` adds bridges, TLS listeners, ACLs and so on.

``make_broker`` (the test fixtures' entry) gives a ``ContainerBroker``
(``broker_docker.py``: the same config and surface, mosquitto in Docker through
testcontainers) wherever a Docker engine answers and a mosquitto image is present, and
the local binary only where Docker can't run; ``broker_backend()`` says which and why.
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
    """What tests and tools may use of a broker, local process or container alike."""

    workdir: Path
    host: str
    port: int

    @property
    def url(self) -> str: ...

    @property
    def log_path(self) -> Path: ...

    @property
    def running(self) -> bool: ...

    def start(self, timeout: float = 30.0) -> None: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...

    def restart(self, down_for: float = 0.0) -> None: ...

    def log_tail(self, lines: int = 20) -> str: ...


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def probe_mqtt(host: str, port: int, timeout: float = 1.0, *, refused_ok: bool = False) -> bool:
    """True when an MQTT broker at host:port accepts a CONNECT (or, with ``refused_ok``,
    answers it at all: a broker that wants a password is up too)."""
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
            return reply == _CONNACK_OK or (refused_ok and reply[:2] == _CONNACK_OK[:2])
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
class MosquittoConfig:
    """What a mosquitto needs: its work directory (config, log and persistence), port
    and ``extra_config``. The local process and the container share this."""

    workdir: Path
    port: int = 0
    host: str = "127.0.0.1"
    extra_config: str = ""
    persistence: bool = True
    max_queued_messages: int = 200_000
    config: str = ""  # the whole config, verbatim, in place of the generated one

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def ready(self) -> bool:
        """The broker answers MQTT (a given config may refuse anonymous clients)."""
        return probe_mqtt(self.host, self.port, refused_ok=bool(self.config))

    def config_text(self) -> str:
        if self.config:
            root = os.geteuid() == 0 and not self._sets("user", self.config)
            return ("user root\n" if root else "") + self.config
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

    def _sets(self, option: str, text: str | None = None) -> bool:
        """Whether ``extra_config`` (or ``text``) sets ``option`` itself."""
        lines = (self.extra_config if text is None else text).splitlines()
        return any(line.split()[:1] == [option] for line in lines)

    def file_log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class MosquittoBroker(MosquittoConfig):
    """One local mosquitto process."""

    binary: str = "mosquitto"
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

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
            conf = self.config_path
            conf.write_text(self.config_text())
            proc = self._proc = subprocess.Popen(
                [self.binary, "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if self.ready():
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
        return (err.decode(errors="replace") + "\n" + self.file_log_tail(lines)).strip()

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




@dataclass(frozen=True)
class Backend:
    """Which broker ``make_broker`` makes here, and why."""

    kind: str  # "container" or "binary"
    detail: str


def broker_backend() -> Backend:
    """A container where Docker runs (``EC_TEST_BROKER=binary`` forces the local one)."""
    from edgecascade.tools.broker_docker import docker_status

    forced = os.environ.get("EC_TEST_BROKER", "")
    if forced not in ("", "binary", "container"):
        raise BrokerUnavailable(f"EC_TEST_BROKER={forced!r}: expected 'binary' or 'container'")
    if forced == "binary":
        return Backend("binary", "local mosquitto binary (EC_TEST_BROKER=binary)")
    status = docker_status()
    if status.ok:
        return Backend("container", f"mosquitto container {status.image} through testcontainers")
    if forced == "container":
        raise BrokerUnavailable(f"EC_TEST_BROKER=container but {status.reason}")
    return Backend("binary", f"local mosquitto binary, as Docker can't run here: {status.reason}")


def make_broker(workdir: Path, **kwargs: object) -> Broker:
    """A mosquitto container where Docker runs, else the local binary, else
    ``BrokerUnavailable``; both have the same surface (start/stop/kill/restart/log_tail)."""
    if broker_backend().kind == "container":
        from edgecascade.tools.broker_docker import ContainerBroker

        return ContainerBroker(workdir, **kwargs)  # type: ignore[arg-type]
    if shutil.which("mosquitto") is None:
        raise BrokerUnavailable(INSTALL_HINT)
    return MosquittoBroker(workdir, **kwargs)  # type: ignore[arg-type]
