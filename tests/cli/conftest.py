"""Run ``edgecascade`` as a real subprocess: what an operator or a supervisor sees."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgecascade.models.registry import load_registry

REGISTRY = load_registry()

#: Upper bounds for a process to react (not timings: the old behaviour held 30 s).
EXIT_WITHIN_S = 15.0


class Cli:
    """One ``python -m edgecascade.cli`` process; stderr read line by line."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "edgecascade.cli", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd, env=env, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The first stderr line containing ``text`` (fails with the log so far)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and self.lines.empty():
                raise AssertionError(f"no line with {text!r}; stderr:\n{''.join(self.stderr)}")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if text in line:
                return line

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = EXIT_WITHIN_S) -> tuple[int, str, str]:
        try:
            self.proc.wait(timeout=timeout)  # stdout is small (a summary): no pipe stall
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"still running {timeout} s later; stderr:\n"
                                 f"{''.join(self.stderr)}") from None
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self._reader.join(5)
        return self.proc.returncode, out, "".join(self.stderr)


@pytest.fixture
def cli() -> Iterator[Callable[..., Cli]]:
    made: list[Cli] = []

    def start(*args: str, cwd: Path | None = None) -> Cli:
        c = Cli(*args, cwd=cwd)
        made.append(c)
        return c

    yield start
    for c in made:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()


def run_cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgecascade.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(stderr: str) -> str:
    """The stderr of a failed command: exactly one line, no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()
             and not line.startswith("INFO: Created TensorFlow Lite")]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


def gateway_toml(tmp: Path, site_url: str, *, prefix: str = "ec/v1", http_port: int = 0,
                 extra: str = "", model: str | None = None, state_dir: str = "state",
                 site_extra: str = "") -> Path:
    path = tmp / "gateway.toml"
    edge = model if model is not None else str(REGISTRY.for_tier("edge").path)
    path.write_text(f"""
version = 1
gateway_id = "gw-cli"
prefix = "{prefix}"
metrics_interval_s = 0.5
[broker]
url = "{site_url}"
{site_extra}
[edge]
model = "{edge}"
[cloud]
enabled = false
[storage]
state_dir = "{state_dir}"
[http]
port = {http_port}
{extra}
""")
    return path


def worker_toml(tmp: Path, url: str, prefix: str = "ec/v1") -> Path:
    path = tmp / "worker.toml"
    path.write_text(f"""
version = 1
worker_id = "wk-cli"
prefix = "{prefix}"
[broker]
url = "{url}"
[model]
path = "{REGISTRY.for_tier('cloud').path}"
""")
    return path
