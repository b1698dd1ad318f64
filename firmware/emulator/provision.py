"""Host side of the provisioning line protocol (``edgecascade provision-device``).

Talks to a board (or the emulator's serial mode) over any pyserial-like port. The
line may also carry COBS report frames sent before the device paused, so replies
are found by splitting what arrives on ``\\n`` and ``0x00`` and taking the first
segment that starts with ``EC OK`` or ``EC ERR``; everything else is skipped.

The device is the authority on validity: every setting is sent, every rejection
is collected, and nothing is committed unless all were accepted.

Broker credentials come from a site credentials file (``edgecascade site add-device``
writes ``creds/<id>.json``; :func:`site_values`): the device id, broker URL, username,
password and the site CA, sent as base64 DER in chunks (``EC SET`` then ``EC ADD``).
Secrets are never printed: the device answers ``***`` for them.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edgecascade.errors import EmulatorError

from .provisioning import KEYS, LINE_MAX, SECRET_KEYS, SETTING_MAX_LEN

_SPLIT = re.compile(rb"[\n\x00]")


class Port(Protocol):
    def write(self, data: bytes, /) -> int | None: ...

    def read(self, size: int = 1, /) -> bytes: ...


class ProvisionError(EmulatorError):
    """The device did not answer, or answered an error: ``step``, ``key``, ``why``."""

    def __init__(self, step: str, key: str, why: str) -> None:
        self.step = step
        self.key = key
        self.why = why
        super().__init__(f"{step} {key}: {why}" if key != "-" else f"{step}: {why}")


@dataclass
class Reply:
    ok: bool
    words: list[str]


@dataclass
class Outcome:
    fw_version: str = ""
    previous_id: str | None = None
    errors: list[ProvisionError] = field(default_factory=list)
    committed: bool = False
    verified: dict[str, str] = field(default_factory=dict)
    skipped_lines: int = 0

    @property
    def ok(self) -> bool:
        return self.committed and not self.errors


class Provisioner:
    def __init__(self, port: Port, *, timeout: float = 5.0) -> None:
        self.port = port
        self.timeout = timeout
        self._pending = b""
        self.skipped = 0

    def request(self, line: str) -> Reply:
        data = line.encode("ascii") + b"\n"
        if len(data) > LINE_MAX:
            raise ProvisionError("request", "-", f"line longer than {LINE_MAX} bytes")
        return self.exchange(data, line)

    def exchange(self, data: bytes, what: str = "request") -> Reply:
        """Write raw bytes and wait for the next answer line."""
        self.port.write(data)
        deadline = time.monotonic() + self.timeout
        while True:
            while True:
                m = _SPLIT.search(self._pending)
                if m is None:
                    break
                segment, self._pending = self._pending[: m.start()], self._pending[m.end() :]
                segment = segment.rstrip(b"\r")
                if segment.startswith((b"EC OK", b"EC ERR")):
                    words = segment.decode("latin-1").split(" ")
                    return Reply(words[1] == "OK", words[2:])
                if segment:
                    self.skipped += 1
            if time.monotonic() >= deadline:
                raise ProvisionError(what, "-", f"no answer within {self.timeout:g} s")
            chunk = self.port.read(256)
            if chunk:
                self._pending += chunk
                if len(self._pending) > 1 << 16:  # a flood of non-answers: keep the tail
                    self._pending = self._pending[-LINE_MAX:]

    def _expect_ok(self, step: str, line: str, key: str = "-") -> list[str]:
        reply = self.request(line)
        if not reply.ok:
            why = reply.words[1] if len(reply.words) > 1 else " ".join(reply.words)
            raise ProvisionError(step, reply.words[0] if reply.words else key, why)
        return reply.words

    def hello(self) -> tuple[str, str | None]:
        words = self._expect_ok("hello", "EC HELLO")
        fw = words[0] if words else ""
        device_id = words[1] if len(words) > 1 and words[1] != "-" else None
        return fw, device_id

    def set(self, key: str, value: str) -> None:
        self._expect_ok("set", f"EC SET {key} {value}", key)

    def add(self, key: str, value: str) -> None:
        self._expect_ok("set", f"EC ADD {key} {value}", key)

    def put(self, key: str, value: str) -> None:
        """SET, or for a value longer than a line (the CA) SET its first chunk, ADD the rest."""
        chunks = [value[i:i + SETTING_MAX_LEN] for i in range(0, len(value), SETTING_MAX_LEN)]
        self.set(key, chunks[0] if chunks else "")
        for chunk in chunks[1:]:
            self.add(key, chunk)

    def get(self, key: str) -> str:
        words = self._expect_ok("get", f"EC GET {key}", key)
        return " ".join(words)

    def commit(self) -> None:
        self._expect_ok("commit", "EC COMMIT")

    def exit(self) -> None:
        self._expect_ok("exit", "EC EXIT")

    def reboot(self) -> None:
        self._expect_ok("reboot", "EC REBOOT")


def provision(port: Port, values: dict[str, str], *, reboot: bool = False,
              timeout: float = 5.0) -> Outcome:
    """HELLO, SET every value, and COMMIT only when all were accepted; read back; leave."""
    unknown = [k for k in values if k not in KEYS]
    if unknown:
        raise ProvisionError("set", unknown[0], "unknown_key")
    p = Provisioner(port, timeout=timeout)
    out = Outcome()
    out.fw_version, out.previous_id = p.hello()
    for key, value in values.items():
        try:
            p.put(key, value)
        except ProvisionError as exc:
            out.errors.append(exc)
    if not out.errors:
        p.commit()
        out.committed = True
        for key, value in values.items():
            got = p.get(key)
            out.verified[key] = got
            expected = read_back(key, value)
            if got != expected:
                out.errors.append(ProvisionError("verify", key, f"reads back {got!r}"))
    if reboot and out.ok:
        p.reboot()
    else:
        p.exit()
    out.skipped_lines = p.skipped
    return out


def read_back(key: str, value: str) -> str:
    """What ``EC GET key`` answers once ``value`` is set (secrets ***, the CA its length)."""
    if key in SECRET_KEYS:
        return "***"
    if key == "ca_cert" and value:
        return str(len(value))
    return value or "-"


def pem_body(pem: str) -> str:
    """The base64 DER of the first certificate in ``pem`` (what ``ca_cert`` holds)."""
    lines = pem.strip().splitlines()
    try:
        start = lines.index("-----BEGIN CERTIFICATE-----")
        end = lines.index("-----END CERTIFICATE-----", start)
    except ValueError:
        raise ProvisionError("set", "ca_cert", "no PEM certificate in the CA file") from None
    return "".join(line.strip() for line in lines[start + 1:end])


def site_values(creds_file: str | Path) -> dict[str, str]:
    """Settings from a site credentials file (``creds/<id>.json`` of ``edgecascade site``)."""
    try:
        raw = json.loads(Path(creds_file).read_text())
        pem = Path(raw["ca_file"]).read_text()
        values = {"device_id": raw["name"], "broker_url": raw["url"] or "",
                  "mqtt_user": raw["username"], "mqtt_pass": raw["password"]}
        role = raw.get("role")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = f"cannot read {creds_file}: {type(exc).__name__}"  # never the content: secrets
        raise ProvisionError("set", "-", why) from None
    if role != "device" or not values["broker_url"]:
        raise ProvisionError("set", "-", f"{creds_file} is not a device's credentials")
    return {**values, "ca_cert": pem_body(pem)}
