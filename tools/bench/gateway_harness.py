"""Shared parts of the gateway benchmarks (no ``run`` here, so the runner skips it).

Real mosquitto brokers on loopback, in-process gateways, a paced report publisher that
remembers when each report left, and a result sink that remembers when each result came.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgecascade.config import HttpSection
from edgecascade.gateway.config import (
    CloudConfig,
    DevicesConfig,
    EdgeConfig,
    GatewayConfig,
    StorageConfig,
)
from edgecascade.models.cascade import load_settings
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import (
    Frame,
    Report,
    Result,
    TopicKind,
    Topics,
    confidence_to_wire,
    decode,
    encode,
)
from edgecascade.tools.broker import MosquittoBroker

REPO = Path(__file__).resolve().parents[2]
EDGE_MODEL = REPO / "models" / "mnist-edge.tflite"
CLOUD_MODEL = REPO / "models" / "mnist-cloud.tflite"
THRESHOLDS = REPO / "models" / "thresholds.json"


def new_client(kind: str) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{kind}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def broker(name: str = "b") -> Iterator[MosquittoBroker]:
    with tempfile.TemporaryDirectory(prefix=f"ecbench-{name}-") as tmp:
        b = MosquittoBroker(Path(tmp), persistence=False)
        b.start()
        try:
            yield b
        finally:
            b.stop()


def images(n: int) -> np.ndarray:
    from edgecascade.models.dataset import load_split

    data = load_split("test").images
    return np.concatenate([data] * -(-n // len(data)))[:n]


def make_reports(n: int, *, confident: bool, device: str = "d1", tag: int = 1) -> list[Report]:
    pix = images(n) if not confident else None
    out = []
    for i in range(n):
        frame = Frame(pix[i].tobytes(), (28, 28)) if pix is not None else None
        conf, second = (0.99, 0.005) if confident else (0.40, 0.35)
        out.append(Report(device_id=device, epoch=tag, seq=i, ts_ms=int(time.time() * 1000),
                          model_id="mnist-mcu", model_version=1, classes=(3, 5),
                          confidences=(confidence_to_wire(conf), confidence_to_wire(second)),
                          frame=frame, complexity=0.05))
    return out


def gateway_config(tmp: Path, site: str, topics: Topics, *, cloud_url: str | None = None,
                   edge: bool = True, **sections: Any) -> GatewayConfig:
    cfg = GatewayConfig(
        gateway_id="gwbench",
        prefix=topics.prefix,
        broker=BrokerSettings(url=site),
        cloud_broker=BrokerSettings(url=cloud_url) if cloud_url else None,
        thresholds=load_settings(THRESHOLDS).thresholds,
        edge=EdgeConfig(model=str(EDGE_MODEL) if edge else ""),
        cloud=CloudConfig(enabled=False),
        storage=StorageConfig(state_dir=str(tmp / f"gw-{uuid.uuid4().hex[:6]}")),
        http=HttpSection(enabled=False), metrics_interval_s=5,
        # A benchmark load, not a flood: the per-device rate limit is lifted (gateway_flood
        # measures it).
        devices=DevicesConfig(rate_per_s=1e9, burst=1e9),
    )
    return replace(cfg, **sections)


@dataclass
class Sink:
    """Subscribes to results; records each arrival (monotonic time, decoded result)."""

    b: MosquittoBroker
    topic_filter: str
    arrivals: list[tuple[float, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cond = threading.Condition()
        ready = threading.Event()
        self.client = new_client("sink")
        self.client.on_connect = lambda c, *a, **k: c.subscribe(self.topic_filter, qos=1)
        self.client.on_subscribe = lambda *a, **k: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(self.b.host, self.b.port)
        self.client.loop_start()
        if not ready.wait(10):
            raise TimeoutError("sink did not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        with self.cond:
            self.arrivals.append((now, bytes(msg.payload)))
            self.cond.notify_all()

    def wait(self, n: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.arrivals) >= n, timeout)

    def results(self) -> list[tuple[float, Result]]:
        with self.cond:
            items = list(self.arrivals)
        return [(t, decode(Result, p)) for t, p in items]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class Source:
    """Publishes reports (QoS 1), optionally paced; remembers when each left."""

    b: MosquittoBroker
    topics: Topics
    sent: dict[tuple[str, int, int], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = new_client("src")
        self.client.max_inflight_messages_set(1000)
        self.client.connect(self.b.host, self.b.port)
        self.client.loop_start()

    def send(self, reports: list[Report], rate: float | None = None,
             stop: threading.Event | None = None) -> None:
        payloads = [(self.topics.device_report(r.device_id), encode(r), r.key) for r in reports]
        start = time.monotonic()
        infos = []
        for i, (topic, data, key) in enumerate(payloads):
            if stop is not None and stop.is_set():
                break
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            self.sent[key] = time.monotonic()
            infos.append(self.client.publish(topic, data, qos=1))
        for info in infos:
            info.wait_for_publish(60)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Relay:
    """The baseline: a bare paho client that republishes each report as-is to a result topic."""

    def __init__(self, b: MosquittoBroker, topics: Topics) -> None:
        self.topics = topics
        self.client = new_client("relay")
        ready = threading.Event()
        self.client.on_connect = lambda c, *a, **k: c.subscribe(
            topics.filter(TopicKind.DEVICE_REPORT), qos=1)
        self.client.on_subscribe = lambda *a, **k: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(b.host, b.port)
        self.client.loop_start()
        if not ready.wait(10):
            raise TimeoutError("relay did not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        device = msg.topic.split("/")[-2]
        client.publish(self.topics.result(device), msg.payload, qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def gateway_toml(tmp: Path, site: str, topics: Topics, *, cloud_url: str | None = None,
                 edge: bool = False, cloud_enabled: bool = False, extra: str = "") -> Path:
    """A config file for a gateway subprocess (its own interpreter, as in production)."""
    state = tmp / f"gw-{uuid.uuid4().hex[:6]}"
    text = f"""
version = 1
gateway_id = "gwbench"
prefix = "{topics.prefix}"
thresholds_file = "{THRESHOLDS}"
metrics_interval_s = 5.0
[broker]
url = "{site}"
[edge]
model = "{EDGE_MODEL if edge else ''}"
[cloud]
enabled = {str(cloud_enabled).lower()}
[storage]
state_dir = "{state}"
[http]
enabled = false
[devices]  # a benchmark load: the rate limit is lifted
rate_per_s = 1e9
burst = 1e9
"""
    if cloud_url:
        text += f'[cloud_broker]\nurl = "{cloud_url}"\n'
    path = tmp / f"{state.name}.toml"
    path.write_text(text + extra)
    return path


def _wait_line(proc: subprocess.Popen[str], want: str, timeout: float) -> None:
    assert proc.stdout is not None
    box: list[str] = []
    stream = proc.stdout
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box or want not in box[0]:
        proc.kill()
        raise RuntimeError(f"subprocess not ready: {box!r}")


def spawn_gateway(config: Path, b: MosquittoBroker, topics: Topics,
                  timeout: float = 60, stats: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m edgecascade.gateway`` and wait for its retained online state.

    With ``stats``, the gateway runs under ``loadgen.instrumented_gateway``, which writes
    each report's receipt -> PUBACK time (ms) there as JSON when the process exits.
    """
    from edgecascade.protocol import ServiceState

    online = threading.Event()
    watcher = new_client("watch")

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        with contextlib.suppress(Exception):
            if decode(ServiceState, msg.payload).online:
                online.set()

    watcher.on_connect = lambda c, *a, **k: c.subscribe(topics.gateway_state("gwbench"), qos=1)
    watcher.on_message = on_message
    watcher.connect(b.host, b.port)
    watcher.loop_start()
    launcher = (["-m", "edgecascade.gateway"] if stats is None else
                ["-m", "edgecascade.tools.bench.loadgen", "gateway", str(stats)])
    proc = subprocess.Popen([sys.executable, *launcher, "--log-level", "warning",
                             "--config", str(config)], stdout=subprocess.DEVNULL)
    try:
        if not online.wait(timeout):
            proc.kill()
            raise RuntimeError("gateway subprocess did not come online")
    finally:
        watcher.loop_stop()
        watcher.disconnect()
    time.sleep(0.3)  # its subscription follows the birth message
    return proc


def stop_process(proc: subprocess.Popen[Any]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def spawn_relay(b: MosquittoBroker, topics: Topics) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "edgecascade.tools.bench.gateway_harness",
                             "relay", b.url, topics.prefix], stdout=subprocess.PIPE, text=True)
    _wait_line(proc, "ready", 30)
    return proc


def _relay_main(url: str, prefix: str) -> None:
    host, port = url.split("//")[1].split(":")
    b = MosquittoBroker(Path("."), port=int(port), host=host)
    Relay(b, Topics(prefix))
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    stop.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["relay"]:
        _relay_main(sys.argv[2], sys.argv[3])
