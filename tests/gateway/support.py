"""Gateway test helpers: configs, reports built from real MNIST images, and a cloud
responder seam.

``CloudResponderSeam`` is a *test seam* standing in for the cloud worker (issue 6): a
real MQTT client on a real broker that answers each CloudRequest with a CloudResponse
(label from a lookup, or a fixed one), and can be paused to play a dead worker.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

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
    CloudAnswer,
    CloudRequest,
    CloudResponse,
    Frame,
    Report,
    TopicKind,
    Topics,
    confidence_to_wire,
    decode,
    encode,
)

REPO = Path(__file__).resolve().parents[2]
EDGE_MODEL = REPO / "models" / "mnist-edge.tflite"
THRESHOLDS = REPO / "models" / "thresholds.json"


# These runs send hundreds of reports at once from one device; the per-device rate
# limit is not what they test (tests/security does), so it is lifted.
UNLIMITED_DEVICES = DevicesConfig(rate_per_s=1e9, burst=1e9)


def make_config(tmp: Path, site_url: str, topics: Topics, *, cloud_url: str | None = None,
                gateway_id: str = "gw1", with_edge: bool = True,
                **sections: object) -> GatewayConfig:
    cfg = GatewayConfig(
        gateway_id=gateway_id,
        prefix=topics.prefix,
        broker=BrokerSettings(url=site_url, keepalive=5),
        cloud_broker=BrokerSettings(url=cloud_url, keepalive=5) if cloud_url else None,
        thresholds=load_settings(THRESHOLDS).thresholds,
        edge=EdgeConfig(model=str(EDGE_MODEL) if with_edge else ""),
        cloud=CloudConfig(deadline_ms=3000, breaker_reset_s=0.5, retry_s=0.3),
        storage=StorageConfig(state_dir=str(tmp / f"state-{gateway_id}")),
        http=HttpSection(port=0), metrics_interval_s=0.5,
        devices=UNLIMITED_DEVICES,
    )
    return replace(cfg, **sections)


@lru_cache(maxsize=1)
def images() -> tuple[np.ndarray, np.ndarray]:
    from edgecascade.models.dataset import load_split

    ds = load_split("test")
    return ds.images, ds.labels


@lru_cache(maxsize=1)
def edge_split() -> tuple[list[int], list[int]]:
    """Indices of test images the real edge model is confident on, and unsure on."""
    from edgecascade.gateway.edge import TFLiteEdgeModel

    t = load_settings(THRESHOLDS).thresholds
    model = TFLiteEdgeModel(str(EDGE_MODEL), temperature=t.edge_temperature)
    imgs, _ = images()
    answers = model.classify(imgs)
    sure = [i for i, a in enumerate(answers) if a.confidence >= t.edge_confidence + 0.05]
    unsure = [i for i, a in enumerate(answers) if a.confidence < t.edge_confidence - 0.05]
    return sure, unsure


def frame_of(index: int) -> Frame:
    imgs, _ = images()
    return Frame(data=imgs[index].tobytes(), shape=(28, 28))


def report(device: str, seq: int, *, confident: bool, image: int | None = None, epoch: int = 1,
           private: bool = False, priority: int | None = None,
           deadline_ms: int | None = None) -> Report:
    conf = 0.99 if confident else 0.40
    return Report(
        device_id=device, epoch=epoch, seq=seq, ts_ms=1_700_000_000_000 + seq,
        model_id="mnist-mcu", model_version=1, classes=(3, 5),
        confidences=(confidence_to_wire(conf), confidence_to_wire(0.005 if confident else 0.35)),
        frame=frame_of(image) if image is not None else None, complexity=0.05,
        private=private, priority=priority, deadline_ms=deadline_ms,
    )


class CloudResponderSeam:
    """Test seam for the cloud worker: answers CloudRequests on a real broker."""

    def __init__(self, host: str, port: int, topics: Topics, *, label: int = 7,
                 labels: Callable[[Frame], int] | None = None) -> None:
        self.topics = topics
        self.label = label
        self.labels = labels
        self.paused = threading.Event()
        self.requests: list[CloudRequest] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"responder-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a, **k: subscribed.set()
        request_filter = topics.filter(TopicKind.CLOUD_REQUEST)
        self.client.on_connect = lambda c, *a, **k: c.subscribe(request_filter, qos=1)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError("responder did not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if self.paused.is_set():
            return
        req = decode(CloudRequest, msg.payload)
        with self._lock:
            self.requests.append(req)
        answers = tuple(
            CloudAnswer(device_id=i.device_id, epoch=i.epoch, seq=i.seq,
                        label=self.labels(i.frame) if (self.labels and i.frame) else self.label,
                        confidence=0.99)
            for i in req.items)
        resp = CloudResponse(correlation_id=req.correlation_id, status="ok", worker_id="seam",
                             model_id="mnist-cloud", model_version=1, worker_ms=1.0,
                             ts_ms=req.ts_ms, items=answers, nonce=req.nonce)
        client.publish(self.topics.cloud_response(req.gateway_id), encode(resp), qos=1)

    def items_seen(self) -> int:
        with self._lock:
            return sum(len(r.items) for r in self.requests)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
