"""What the demo starts itself and stops again: the brokers, and the :class:`Stack` of
everything started, stopped in reverse order (also on Ctrl-C or a failed start)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("edgecascade.demo")


@dataclass
class Stack:
    """What the demo started, so it can stop all of it in reverse order."""

    stops: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)

    def add(self, name: str, stop: Callable[[], Any]) -> None:
        self.stops.append((name, stop))

    def close(self) -> None:
        while self.stops:
            name, stop = self.stops.pop()
            try:
                stop()
            except Exception:  # keep stopping the rest
                log.warning("stopping %s failed", name, exc_info=True)


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


def start_broker(name: str, workdir: Path, embedded: bool, stack: Stack) -> tuple[str, str]:
    """Start a broker; return (url, description)."""
    binary = None if embedded else mosquitto_binary()
    if binary is not None:
        from edgecascade.tools.broker import MosquittoBroker

        broker = MosquittoBroker(workdir / name, binary=binary)
        broker.start()
        stack.add(f"{name} broker", broker.stop)
        return broker.url, f"mosquitto ({binary})"
    from edgecascade.tools.embedded_broker import EmbeddedBroker

    embedded_broker = EmbeddedBroker()
    embedded_broker.start()
    stack.add(f"{name} broker", embedded_broker.stop)
    return embedded_broker.url, "embedded amqtt (MQTT 3.1.1, no shared subscriptions)"
