"""An embedded Python MQTT broker (amqtt) for ``edgecascade demo`` without mosquitto.

amqtt speaks MQTT 3.1.1 only and has no shared subscriptions; edgecascade runs
correctly within that (plain subscriptions, one worker group). It runs in a thread
with its own asyncio loop so the demo can start and stop it like a process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from edgecascade.tools.broker import BrokerFailed, free_port, wait_ready


@dataclass
class EmbeddedBroker:
    host: str = "127.0.0.1"
    port: int = 0
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _broker: Any = field(default=None, init=False, repr=False)
    _error: BaseException | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }

    def _run(self, started: threading.Event) -> None:
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            self._broker = Broker(self._config(), loop=loop)
            await self._broker.start()

        try:
            loop.run_until_complete(boot())
        except BaseException as exc:  # reported to the caller of start()
            self._error = exc
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.close()

    def start(self, timeout: float = 15.0) -> None:
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        if self.port == 0:
            self.port = free_port(self.host)
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="amqtt-broker", daemon=True
        )
        self._thread.start()
        started.wait(timeout)
        if self._error is not None:
            raise BrokerFailed(f"amqtt broker failed to start: {self._error!r}")
        if not wait_ready(self.host, self.port, timeout):
            raise BrokerFailed(f"amqtt broker did not answer on port {self.port}")

    def stop(self) -> None:
        loop, broker = self._loop, self._broker
        if loop is None or broker is None:
            return
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        try:
            future.result(timeout=10)
        except Exception:  # a broker that fails to shut down cleanly is still stopped
            logging.getLogger(__name__).warning("amqtt shutdown raised", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = self._broker = self._thread = None
