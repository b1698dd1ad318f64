"""Helpers for cloud tests: frames from the shipped test split, configs, a request client."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgecascade.cloud.config import WorkerConfig, parse_config
from edgecascade.protocol import (
    CloudItem,
    CloudRequest,
    CloudResponse,
    Frame,
    TopicKind,
    Topics,
    decode,
    encode,
)

REPO = Path(__file__).resolve().parents[2]
CLOUD_MODEL = REPO / "models" / "mnist-cloud.tflite"


def sample_images(n: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from edgecascade.models.dataset import load_split

    ds = load_split("test")
    return ds.images[start : start + n], ds.labels[start : start + n]


def frame_of(pixels: np.ndarray) -> Frame:
    return Frame(data=pixels.astype(np.uint8).tobytes(), shape=(28, 28), dtype="uint8")


def make_request(gateway_id: str, images: np.ndarray, *, cid: str | None = None,
                 device: str = "dev1", first_seq: int = 0) -> CloudRequest:
    items = tuple(CloudItem(device, 1, first_seq + i, frame=frame_of(img))
                  for i, img in enumerate(images))
    return CloudRequest(correlation_id=cid or uuid.uuid4().hex[:16], gateway_id=gateway_id,
                        ts_ms=int(time.time() * 1000), deadline_ms=5000, items=items)


def config_dict(broker_url: str, topics: Topics, *, worker_id: str = "wk1",
                model_path: Path = CLOUD_MODEL, **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "worker_id": worker_id,
        "prefix": topics.prefix,
        "shared_group": "ecw",
        "broker": {"url": broker_url, "keepalive": 10},
        "model": {"path": str(model_path), "max_batch": 64, "max_delay_ms": 5},
    }
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return doc


def make_config(broker_url: str, topics: Topics, **kwargs: Any) -> WorkerConfig:
    return parse_config(config_dict(broker_url, topics, **kwargs), env={})


def to_toml(doc: dict[str, Any]) -> str:
    """Just enough TOML writing for worker configs (strings, numbers, bools, tables)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines += [f"{kk} = {value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Requester:
    """Plays the gateway: publishes requests, collects responses by correlation id."""

    host: str
    port: int
    topics: Topics
    gateway_id: str = "gw1"
    responses: dict[str, list[bytes]] = field(default_factory=dict)
    others: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"req-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a, **k: subscribed.set()
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe([(self.topics.cloud_response(self.gateway_id), 1),
                               (self.topics.filter(TopicKind.WORKER_STATE), 1)])
        if not subscribed.wait(10):
            raise TimeoutError("requester did not subscribe")

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            if msg.topic == self.topics.cloud_response(self.gateway_id):
                resp = decode(CloudResponse, msg.payload)
                self.responses.setdefault(resp.correlation_id, []).append(bytes(msg.payload))
            else:
                self.others.append((msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def send(self, request: CloudRequest, topic_gateway: str | None = None) -> None:
        self.send_raw(self.topics.cloud_request(topic_gateway or request.gateway_id),
                      encode(request))

    def send_raw(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def wait(self, cids: list[str], timeout: float = 30.0,
             count: int = 1) -> dict[str, CloudResponse]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                missing = [c for c in cids if len(self.responses.get(c, [])) < count]
                if not missing:
                    return {c: decode(CloudResponse, self.responses[c][0]) for c in cids}
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(missing)} of {len(cids)} requests unanswered "
                                         f"after {timeout} s, e.g. {missing[:3]}")
                self._cond.wait(left)

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("condition not met in time")
                self._cond.wait(left)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
