"""HTTP endpoint: ``/metrics`` (Prometheus), ``/healthz`` (process alive), ``/readyz``
(connected to the site broker and taking reports), ``/monitoring`` (live accuracy per
device and model version, drift state and alarms, silent devices: issue 22, JSON), and
the live dashboard.

Dashboard routes (when the gateway has one and ``[dashboards] web`` is on):

- ``/`` and ``/web/<file>``: the page, shipped in the package (``gateway/web/``), no
  build step, nothing fetched from elsewhere;
- ``/api/snapshot``: one JSON snapshot (``gateway/live.py``);
- ``/events``: the same snapshot as server-sent events, pushed when results, device
  states or metrics change (at most ``SSE_MAX_HZ`` a second) and every 15 s otherwise.

Why server-sent events rather than MQTT over WebSockets: the gateway already serves
HTTP and already holds every number the page shows (its metrics registry), so the page
needs no broker WebSocket listener (mosquitto ships none by default, amqtt's and
AWS's differ), no MQTT credentials in a browser, and no msgpack decoder in JavaScript.
``EventSource`` reconnects by itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

if TYPE_CHECKING:
    from .dashboards import Dashboards

SSE_MAX_HZ = 4.0
SSE_KEEPALIVE_S = 15.0
WEB_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
             ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def web_file(name: str) -> bytes | None:
    """A file of the shipped page; None for anything else (no path traversal)."""
    if "/" in name or "\\" in name or name.startswith(".") or not name:
        return None
    res = resources.files("edgecascade.gateway").joinpath("web", name)
    return res.read_bytes() if res.is_file() else None


class ObserveServer:
    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 ready: Callable[[], tuple[bool, str]],
                 dashboards: Dashboards | None = None,
                 monitoring: Callable[[], dict[str, object]] | None = None) -> None:
        outer = self
        self.monitoring = monitoring  # issue 22: /monitoring, the field monitor's JSON state

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?")[0]
                if path == "/metrics":
                    self._send(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b"ok\n")
                elif path == "/readyz":
                    ok, why = outer.ready()
                    self._send(200 if ok else 503, (why + "\n").encode())
                elif outer.monitoring is not None and path == "/monitoring":
                    self._send(200, json.dumps(outer.monitoring(), allow_nan=False).encode(),
                               "application/json")
                elif outer.web is not None and path in ("/", "/index.html"):
                    self._static("index.html")
                elif outer.web is not None and path.startswith("/web/"):
                    self._static(path[len("/web/"):])
                elif outer.web is not None and path == "/api/snapshot":
                    self._send(200, outer.snapshot_bytes(), "application/json")
                elif outer.web is not None and path == "/events":
                    self._events(outer.web)
                else:
                    self._send(404, b"not found\n")

            def _static(self, name: str) -> None:
                body = web_file(name)
                if body is None:
                    self._send(404, b"not found\n")
                    return
                ext = name[name.rfind("."):]
                self._send(200, body, WEB_TYPES.get(ext, "application/octet-stream"))

            def _events(self, web: Dashboards) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                seen = -1
                try:
                    while not outer.closing.is_set():
                        body = outer.snapshot_bytes()
                        self.wfile.write(b"data: " + body + b"\n\n")
                        self.wfile.flush()
                        seen = web.live.version
                        time.sleep(1.0 / SSE_MAX_HZ)
                        web.live.wait(seen, SSE_KEEPALIVE_S)
                except OSError:  # the browser went away
                    return

            def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        self.registry = registry
        self.ready = ready
        self.web = dashboards if dashboards is not None and dashboards.cfg.web else None
        self.closing = threading.Event()
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="gw-http",
                                        daemon=True)

    def snapshot_bytes(self) -> bytes:
        assert self.web is not None
        return json.dumps(self.web.snapshot(), allow_nan=False).encode()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.closing.set()
        if self.web is not None:
            self.web.live.touch()  # wake the event streams so they see ``closing``
        self.server.shutdown()
        self.server.server_close()
