"""Shared parts of the cloud benchmarks (no ``run`` here, so the runner skips it).

A real mosquitto on loopback, an in-process :class:`CloudWorker` with the real cloud
model, and a client that plays the gateway: sends requests and times their responses.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgecascade.cloud.config import WorkerConfig, parse_config
from edgecascade.cloud.model import classifier_loader
from edgecascade.cloud.worker import CloudWorker, set_nodelay
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import CloudItem, CloudRequest, CloudResponse, Frame, Topics, decode
from edgecascade.tools.broker import MosquittoBroker

REPO = Path(__file__).resolve().parents[2]
CLOUD_MODEL = REPO / "models" / "mnist-cloud.tflite"
GATEWAY = "gwbench"


def images(n: int) -> np.ndarray:
    from edgecascade.models.dataset import load_split

    data = load_split("test").images
    reps = -(-n // len(data))
    return np.concatenate([data] * reps)[:n]


def requests(pixels: np.ndarray, per_request: int, tag: str = "") -> list[CloudRequest]:
    out = []
    tag = tag or uuid.uuid4().hex[:6]
    for start in range(0, len(pixels), per_request):
        chunk = pixels[start : start + per_request]
        items = tuple(CloudItem("dev1", 1, start + i,
                                frame=Frame(img.tobytes(), (28, 28), "uint8"))
                      for i, img in enumerate(chunk))
        out.append(CloudRequest(f"{tag}{start}", GATEWAY, 0, 5000, items))
    return out


@contextlib.contextmanager
def broker() -> Iterator[MosquittoBroker]:
    with tempfile.TemporaryDirectory(prefix="ec-bench-") as tmp:
        b = MosquittoBroker(Path(tmp), persistence=False)
        b.start()
        try:
            yield b
        finally:
            b.stop()


def worker_config(url: str, topics: Topics, *, max_batch: int, max_delay_ms: float,
                  worker_id: str = "wkbench", publish_per_second: int = 100,
                  runtime: dict[str, Any] | None = None) -> WorkerConfig:
    """``runtime``: extra ``[model]`` keys (runtime, providers, num_threads, ...)."""
    return parse_config({
        "worker_id": worker_id, "prefix": topics.prefix, "shared_group": "bench",
        "broker": {"url": url},
        "model": {"path": str(CLOUD_MODEL), "max_batch": max_batch,
                  "max_delay_ms": max_delay_ms, **(runtime or {})},
        "limits": {"publish_per_second": publish_per_second},
    }, env={})


@contextlib.contextmanager
def worker(b: MosquittoBroker, topics: Topics, **kwargs: Any) -> Iterator[CloudWorker]:
    cfg = worker_config(b.url, topics, **kwargs)
    w = CloudWorker(cfg, classifier_loader(cfg.model)(cfg.model.path, cfg.model.num_threads),
                    BrokerSettings(url=b.url))
    w.start()
    try:
        yield w
    finally:
        w.stop(30)


@dataclass
class Client:
    """Plays the gateway (or, with ``echo``, a bare responder)."""

    host: str
    port: int
    subscribe: str
    received: dict[str, float] = field(default_factory=dict)
    raw: bool = False  # responses are the request bytes echoed back (bare baseline)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"bench-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a, **k: ready.set()
        self.client.connect(self.host, self.port)
        set_nodelay(self.client)
        self.client.loop_start()
        self.client.subscribe(self.subscribe, qos=1)
        if not ready.wait(10):
            raise TimeoutError("bench client did not subscribe")

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        key = (decode(CloudRequest, msg.payload).correlation_id if self.raw
               else decode(CloudResponse, msg.payload).correlation_id)
        with self._cond:
            self.received.setdefault(key, now)
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def wait(self, keys: list[str], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(k not in self.received for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sum(1 for k in keys if k not in self.received)
                    raise TimeoutError(f"{missing} of {len(keys)} responses missing")
                self._cond.wait(left)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Echo:
    """The bare baseline: a paho client that republishes each request as the response."""

    def __init__(self, host: str, port: int, topics: Topics) -> None:
        ready = threading.Event()
        self.topics = topics
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"echo-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a, **k: ready.set()
        self.client.connect(host, port)
        set_nodelay(self.client)
        self.client.loop_start()
        self.client.subscribe(topics.cloud_request(GATEWAY), qos=1)
        if not ready.wait(10):
            raise TimeoutError("echo did not subscribe")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        client.publish(self.topics.cloud_response(GATEWAY), msg.payload, qos=1)


class Arrivals:
    """A subscriber that records when each message on ``filters`` arrives (monotonic s):
    the quota as the broker's receivers see it."""

    def __init__(self, host: str, port: int, filters: list[str]) -> None:
        self.stamps: list[float] = []
        self._cond = threading.Condition()
        ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"count-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a, **k: ready.set()
        self.client.connect(host, port)
        set_nodelay(self.client)
        self.client.loop_start()
        self.client.subscribe([(f, 1) for f in filters])
        if not ready.wait(10):
            raise TimeoutError("counter did not subscribe")

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        with self._cond:
            self.stamps.append(now)
            self._cond.notify_all()

    def wait(self, n: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.stamps) >= n, timeout)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
