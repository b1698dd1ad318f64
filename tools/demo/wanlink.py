"""A simulated WAN link: a TCP proxy on loopback that adds one-way delay and can be cut.

The demo puts it between the gateway and the cloud broker, so a cloud outage is what
it is in the field (the link drops; the broker and workers keep running) and WAN
latency is real time on real sockets. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field

from edgecascade.tools.broker import free_port


@dataclass
class WanLink:
    target_host: str
    target_port: int
    delay_ms: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _server: asyncio.AbstractServer | None = field(default=None, init=False, repr=False)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set, init=False, repr=False)
    up: bool = field(default=True, init=False)
    cuts: int = field(default=0, init=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> WanLink:
        if self.port == 0:
            self.port = free_port(self.host)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name="wan-link")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("WAN link proxy did not start")
        return self

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            asyncio.start_server(self._accept, self.host, self.port)
        )
        ready.set()
        loop.run_forever()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host,
                                                                 self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                                 return_exceptions=True)
        except asyncio.CancelledError:
            pass  # the link is shutting down
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy bytes one way, each chunk delivered ``delay_ms`` after it was read."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        task = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(65536):
                await queue.put((time.monotonic() + self.delay_ms / 1000, data))
        finally:
            await queue.put((0.0, b""))
            with contextlib.suppress(Exception):
                await task

    def _call(self, fn: object) -> None:
        loop = self._loop
        if loop is None:
            return
        done = threading.Event()

        def run() -> None:
            try:
                fn()  # type: ignore[operator]
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        done.wait(10)

    def cut(self) -> None:
        """Drop every connection through the link and refuse new ones until restored."""
        self.up = False
        self.cuts += 1

        def close_all() -> None:
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._call(close_all)

    def restore(self) -> None:
        self.up = True

    def stop(self) -> None:
        self.cut()
        loop = self._loop
        if loop is None:
            return
        if self._server is not None:
            self._call(self._server.close)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None
