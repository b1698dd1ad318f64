"""Device side of the serial provisioning line protocol: twin of ``ec_provision.c``
and ``ec_settings.c`` (pure: no I/O, the time is passed in).

ASCII lines ending in ``\\n`` (a trailing ``\\r`` ignored), at most 128 bytes with the
``\\n``::

    EC HELLO              -> EC OK <fw_version> <device_id or ->   (pauses reports)
    EC SET <key> <value>  -> EC OK | EC ERR <key> <reason>
    EC ADD <key> <value>  -> EC OK | EC ERR <key> <reason>   (appends; only ca_cert)
    EC GET <key>          -> EC OK <value>   (wifi_pass and mqtt_pass answer ***, ca_cert
                             its length, empty answers -)
    EC COMMIT             -> EC OK | EC ERR - storage
    EC EXIT               -> EC OK   (resumes reports)
    EC REBOOT             -> EC OK   (then the device reboots)
    anything else         -> EC ERR - unknown_command
    a line too long       -> EC ERR - line_too_long;  an empty line -> no answer

Reports stay paused from HELLO until EXIT, REBOOT or 30 s without a line. SET
changes the working settings; COMMIT persists them; they take effect at next boot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from edgecascade.protocol.limits import ID_PATTERN, MAX_ID_LENGTH

from .policy import parse_threshold

LINE_MAX = 128
IDLE_S = 30.0
KEYS = (
    "wifi_ssid",
    "wifi_pass",
    "broker_url",
    "device_id",
    "conf_threshold",
    "margin_threshold",
    "complexity_limit",
    "mqtt_user",  # the broker username ([A-Za-z0-9_-]{1,64}, or empty: no login)
    "mqtt_pass",  # 8..64 printable, no spaces (or empty); write-only
    "ca_cert",  # the site CA (DER) in base64; SET then ADD chunks (<= 96 per line)
)
SECRET_KEYS = ("wifi_pass", "mqtt_pass")
SETTING_MAX_LEN = 96
CA_CERT_MAX = 1536
_BASE64 = re.compile(r"[A-Za-z0-9+/=]*")
_ID = re.compile(rf"{ID_PATTERN}")
_TOKEN = re.compile(r"[a-z_]{1,32}")


def _printable(value: str, allow_space: bool) -> bool:
    return all(" " <= c <= "~" and (allow_space or c != " ") for c in value)


def parse_decimal(text: str) -> float | None:
    """The device's decimal grammar; the float32 nearest the text, or None."""
    try:
        return parse_threshold(text)
    except ValueError:
        return None


def check_setting(key: str, value: str) -> str | None:
    """Why ``value`` is not valid for ``key`` (too_long, bad_value, out_of_range), or None."""
    n = len(value.encode("latin-1", "replace"))
    if key == "wifi_ssid":
        if n > 32:
            return "too_long"
        return None if n >= 1 and _printable(value, True) else "bad_value"
    if key == "wifi_pass":
        if n > 64:
            return "too_long"
        return None if (n == 0 or n >= 8) and _printable(value, True) else "bad_value"
    if key == "broker_url":
        if n > SETTING_MAX_LEN:
            return "too_long"
        if not _printable(value, False):
            return "bad_value"
        ok = (n > 7 and value.startswith("mqtt://")) or (n > 8 and value.startswith("mqtts://"))
        return None if ok else "bad_value"
    if key in ("device_id", "mqtt_user"):
        if n > MAX_ID_LENGTH:
            return "too_long"
        if key == "mqtt_user" and n == 0:
            return None
        return None if _ID.fullmatch(value) else "bad_value"
    if key == "mqtt_pass":
        if n > 64:
            return "too_long"
        return None if (n == 0 or n >= 8) and _printable(value, False) else "bad_value"
    if key == "ca_cert":
        if n > SETTING_MAX_LEN:
            return "too_long"
        return None if _BASE64.fullmatch(value) else "bad_value"
    if key in ("conf_threshold", "margin_threshold", "complexity_limit"):
        if n > 16:
            return "too_long"
        f = parse_decimal(value)
        if f is None:
            return "bad_value"
        return None if key == "complexity_limit" or f <= 1.0 else "out_of_range"
    return "unknown_key"


@dataclass
class Settings:
    """The provisioned settings, kept as the text given (what GET answers)."""

    values: dict[str, str] = field(default_factory=lambda: dict.fromkeys(KEYS, ""))

    def set(self, key: str, value: str) -> str | None:
        problem = check_setting(key, value)
        if problem is None:
            self.values[key] = value
        return problem

    def append(self, key: str, value: str) -> str | None:
        """Extend an appendable key (only ca_cert); why not, or None."""
        if key != "ca_cert":
            return "not_appendable"
        problem = check_setting(key, value)
        if problem is None and len(self.values[key]) + len(value) > CA_CERT_MAX:
            problem = "too_long"
        if problem is None:
            self.values[key] += value
        return problem

    def restore(self, key: str, value: str) -> bool:
        """Take a stored value (ec_settings_load): the CA whole, checked chunk by chunk."""
        if key != "ca_cert":
            return self.set(key, value) is None
        saved, self.values[key] = self.values[key], ""
        for i in range(0, len(value), SETTING_MAX_LEN):
            if self.append(key, value[i:i + SETTING_MAX_LEN]) is not None:
                self.values[key] = saved
                return False
        return True

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def thresholds(self) -> tuple[float, float, float] | None:
        """(conf, margin, complexity limit) when all three are set, else None."""
        parsed = [parse_decimal(self.get(k)) for k in KEYS[4:7]]
        if any(p is None for p in parsed):
            return None
        conf, margin, limit = parsed
        assert conf is not None and margin is not None and limit is not None
        return conf, margin, limit

    def copy(self) -> Settings:
        return Settings(dict(self.values))


@dataclass
class Provisioning:
    """One serial line's provisioning state; ``save`` is the storage seam."""

    settings: Settings
    fw_version: str
    save: Callable[[Settings], bool]
    paused: bool = False
    reboot_requested: bool = False
    last: float = 0.0
    _line: bytearray = field(default_factory=bytearray)
    _overflow: bool = False

    def handle_line(self, line: bytes, now: float) -> bytes:
        """Answer one line (without its ``\\n``); b"" means no answer."""
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            return b""
        self.last = now
        text = line.decode("latin-1")
        if text == "EC HELLO":
            self.paused = True
            device_id = self.settings.get("device_id") or "-"
            return f"EC OK {self.fw_version[:32]} {device_id}\n".encode("latin-1")
        if text.startswith("EC SET "):
            key, _, value = text[7:].partition(" ")
            if key not in KEYS:
                return _key_error(key, "unknown_key")
            problem = self.settings.set(key, value)
            return b"EC OK\n" if problem is None else _key_error(key, problem)
        if text.startswith("EC ADD "):
            key, _, value = text[7:].partition(" ")
            if key not in KEYS:
                return _key_error(key, "unknown_key")
            problem = self.settings.append(key, value)
            return b"EC OK\n" if problem is None else _key_error(key, problem)
        if text.startswith("EC GET "):
            key = text[7:]
            if key not in KEYS:
                return _key_error(key, "unknown_key")
            value = self.settings.get(key) or "-"
            if key in SECRET_KEYS:
                value = "***"  # secrets are write-only
            elif key == "ca_cert" and value != "-":
                value = str(len(value))  # too long for a line: its length
            return _answer(f"EC OK {value}")
        if text == "EC COMMIT":
            return b"EC OK\n" if self.save(self.settings.copy()) else b"EC ERR - storage\n"
        if text == "EC EXIT":
            self.paused = False
            return b"EC OK\n"
        if text == "EC REBOOT":
            self.paused = False
            self.reboot_requested = True
            return b"EC OK\n"
        return b"EC ERR - unknown_command\n"

    def feed(self, data: bytes, now: float) -> list[bytes]:
        """Feed received bytes; the answers to every line they complete."""
        answers = []
        for byte in data:
            if byte == 0x0A:
                line, overflow = bytes(self._line), self._overflow
                self._line.clear()
                self._overflow = False
                if overflow:
                    self.last = now
                    answers.append(b"EC ERR - line_too_long\n")
                    continue
                answer = self.handle_line(line, now)
                if answer:
                    answers.append(answer)
            elif not self._overflow:
                if len(self._line) >= LINE_MAX - 1:
                    self._overflow = True
                else:
                    self._line.append(byte)
        return answers

    def is_paused(self, now: float) -> bool:
        if self.paused and now - self.last >= IDLE_S:
            self.paused = False
        return self.paused


def _answer(text: str) -> bytes:
    data = text.encode("latin-1", "replace")[: LINE_MAX]
    return data + b"\n"


def _key_error(key: str, why: str) -> bytes:
    shown = key if _TOKEN.fullmatch(key) else "-"
    return _answer(f"EC ERR {shown} {why}")
