"""Logs on stderr: readable lines on a terminal, JSON lines for machines.

``--log-format auto`` (the default) picks text when stderr is a terminal and JSON
otherwise (journald, a container runtime, a pipe), so a supervisor always gets one JSON
object per line and a person at a shell gets ``12:00:01 INFO gateway: site link up
broker=mqtt://...``. Never payload bytes or secrets, in either form.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("auto", "text", "json")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key not in _RESERVED and not key.startswith("_"):
            plain = isinstance(value, int | float | str | bool | None)
            out[key] = value if plain else str(value)
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger: message key=value ...`` (the logger without ``edgecascade.``)."""

    def format(self, record: logging.LogRecord) -> str:
        name = record.name.removeprefix("edgecascade.")
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{stamp} {record.levelname:<7} {name}: {record.getMessage()}"
        if fields:
            line += "  " + fields
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def resolve_format(fmt: str, stream: TextIO) -> str:
    """``auto`` -> ``text`` on a terminal, else ``json``; other values unchanged."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


def setup_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> str:
    """Route every logger to ``stream`` (stderr) at ``level``; returns the format chosen."""
    out = stream if stream is not None else sys.stderr
    chosen = resolve_format(fmt, out)
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return chosen
