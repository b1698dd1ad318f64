"""mosquitto in a Docker container through testcontainers, with the local process's surface.

``ContainerBroker`` runs the same generated config as :class:`MosquittoBroker` in a
container on the host's network (``network_mode="host"``), so the port in the config is
the port on 127.0.0.1 and extra listeners (TLS, a second port) need no mapping. The work
directory is mounted at the same path, and so is every directory that an absolute path
in the config names (certificates, ACL files), so the config's paths stay valid and the
log and persistence files land where the local broker would put them. ``stop`` is a
``docker stop`` (SIGTERM: persistence saved), ``kill`` a SIGKILL, ``restart`` a new
container on the same port with the same persistence.

The image is ``$EC_BROKER_IMAGE``, else the official ``eclipse-mosquitto:2`` where it is
present (``scripts/docker-images`` pulls it where a registry answers), else
``edgecascade-mosquitto:local`` (Debian's mosquitto, imported by that script). The
testcontainers reaper (Ryuk) is off unless ``TESTCONTAINERS_RYUK_DISABLED`` says
otherwise, as its image can't be pulled everywhere; containers carry their owner's pid,
and those of dead owners are removed when the next broker starts.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecascade.tools.broker import BrokerFailed, MosquittoConfig, free_port

IMAGES = ("eclipse-mosquitto:2", "edgecascade-mosquitto:local")
MOSQUITTO_IN_IMAGE = "/usr/sbin/mosquitto"
OWNER_LABEL = "org.edgecascade.broker-owner"
BUILD_HINT = "run 'bash scripts/docker-images broker' to import one"


@dataclass(frozen=True)
class DockerStatus:
    """Whether brokers can run in Docker here, and if not, why."""

    image: str | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.image is not None


def _client() -> Any:
    import docker

    return docker.from_env(timeout=10)


@functools.cache
def docker_status() -> DockerStatus:
    """Asked once per process: the engine answers and a mosquitto image is present."""
    try:
        import docker
        import testcontainers  # noqa: F401
    except ImportError as exc:
        return DockerStatus(None, f"the Python package {exc.name!r} is not installed")
    try:
        client = _client()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine is the reason
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return DockerStatus(None, f"no Docker engine answers ({first[:160]})")
    wanted = os.environ.get("EC_BROKER_IMAGE")
    images = (wanted,) if wanted else IMAGES
    for image in images:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            continue
        return DockerStatus(image)
    return DockerStatus(None, f"no mosquitto image ({' or '.join(images)}): {BUILD_HINT}")


def _reap_orphans() -> None:
    """Remove broker containers whose owning process is gone (a killed test run)."""
    with contextlib.suppress(Exception):
        for container in _client().containers.list(all=True, filters={"label": OWNER_LABEL}):
            pid = int(container.labels.get(OWNER_LABEL, "0"))
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                container.remove(force=True)
            except PermissionError:
                pass  # alive, someone else's


_reaped: list[bool] = []


@dataclass
class ContainerBroker(MosquittoConfig):
    """One mosquitto container; see the module docstring."""

    image: str | None = None
    _container: Any = field(default=None, init=False, repr=False)
    _last_logs: str = field(default="", init=False, repr=False)

    @property
    def running(self) -> bool:
        if self._container is None:
            return False
        with contextlib.suppress(Exception):
            self._container.get_wrapped_container().reload()
            return bool(self._container.get_wrapped_container().status == "running")
        return False

    def mounts(self) -> list[Path]:
        """The work directory and the directories the config's absolute paths name."""
        dirs = [self.workdir]
        for token in self.config_text().split():
            path = Path(token)
            if not path.is_absolute() or not path.exists():
                continue
            path = path if path.is_dir() else path.parent
            if path != Path("/") and not any(path.is_relative_to(d) for d in dirs):
                dirs = [d for d in dirs if not d.is_relative_to(path)] + [path]
        return dirs

    def start(self, timeout: float = 30.0) -> None:
        """Start a container and wait until it answers a CONNECT (retries as the local one)."""
        from testcontainers.core.config import testcontainers_config
        from testcontainers.core.container import DockerContainer

        if self.running:
            return
        if "TESTCONTAINERS_RYUK_DISABLED" not in os.environ:
            testcontainers_config.ryuk_disabled = True
        if not _reaped:
            _reaped.append(True)
            _reap_orphans()
        image = self.image or docker_status().image
        if image is None:
            raise BrokerFailed(f"no broker container: {docker_status().reason}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        fixed_port = self.port != 0
        for _attempt in range(10 if fixed_port else 5):
            if not fixed_port:
                self.port = free_port(self.host)
            self.config_path.write_text(self.config_text())
            container = DockerContainer(
                image, command=shlex.join([MOSQUITTO_IN_IMAGE, "-c", str(self.config_path)]),
                network_mode="host", network=None, user=f"{os.getuid()}:{os.getgid()}",
                labels={OWNER_LABEL: str(os.getpid())})
            for path in self.mounts():
                container.with_volume_mapping(str(path), str(path),
                                              mode="rw" if path == self.workdir else "ro")
            self._container = container.start()
            deadline = time.monotonic() + timeout
            exited = False
            while time.monotonic() < deadline:
                if self.ready():
                    return
                if not self.running:
                    exited = True
                    break
                time.sleep(0.05)
            self._remove(kill=True)
            if not exited:
                break  # running but never answered: retrying will not help
            if fixed_port:
                time.sleep(0.5)
        raise BrokerFailed(f"mosquitto container ({image}) did not become ready on port "
                           f"{self.port}: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The container's own output (startup errors) and the log file's tail."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                out, err = self._container.get_logs()
                self._last_logs = (out + err).decode(errors="replace")
        tail = "\n".join(self._last_logs.splitlines()[-lines:])
        return (tail + "\n" + self.file_log_tail(lines)).strip()

    def _remove(self, *, kill: bool) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        wrapped = container.get_wrapped_container()
        with contextlib.suppress(Exception):
            out, err = container.get_logs()
            self._last_logs = (out + err).decode(errors="replace")
        with contextlib.suppress(Exception):
            if kill:
                wrapped.kill()  # SIGKILL, as a power cut would
            else:
                wrapped.stop(timeout=10)  # SIGTERM: mosquitto saves its persistence file
        with contextlib.suppress(Exception):
            wrapped.wait(timeout=10)
        container.stop(force=True)  # removes the container and closes the client

    def stop(self) -> None:
        """Graceful stop (``docker stop``): mosquitto saves its persistence file."""
        self._remove(kill=False)

    def kill(self) -> None:
        """Crash stop: SIGKILL to the container."""
        self._remove(kill=True)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop and start a new container on the same port, keeping persisted sessions."""
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()

    def __enter__(self) -> ContainerBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
