"""The cloud link: an answer counts only when it echoes its request's nonce."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgecascade.cloud import core
from edgecascade.gateway.cloud_outcomes import (
    NONCE_MISMATCH,
    UNKNOWN_REQUEST,
    SentRequest,
    take_request,
)
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import (
    CloudAnswer,
    CloudItem,
    CloudRequest,
    CloudResponse,
    TopicKind,
    decode,
    encode,
)
from tests.gateway.conftest import decoded_results
from tests.gateway.support import edge_split, report
from tests.support import publish

CLOUD_MODEL = Path(__file__).resolve().parents[2] / "models" / "mnist-cloud.tflite"
NONCE = bytes(range(16))


def _request(nonce: bytes | None = NONCE) -> CloudRequest:
    return CloudRequest("c1", "gw1", 1, 1000, (CloudItem("d1", 1, 1, frame_ref="ref"),), nonce)


def _response(nonce: bytes | None, cid: str = "c1") -> CloudResponse:
    return CloudResponse(cid, "ok", "wk", "m", 1, 1.0, 1,
                         (CloudAnswer("d1", 1, 1, label=3, confidence=0.9),), nonce=nonce)


def test_take_request_checks_the_nonce_and_keeps_the_request_on_a_forgery() -> None:
    sent = SentRequest({}, 10, 0.0, NONCE)
    in_flight: dict[str, SentRequest] = {"c1": sent}
    assert take_request(_response(None), in_flight) == NONCE_MISMATCH
    assert take_request(_response(b"x" * 16), in_flight) == NONCE_MISMATCH
    assert in_flight == {"c1": sent}  # still waiting for the real answer
    assert take_request(_response(NONCE, cid="c2"), in_flight) == UNKNOWN_REQUEST
    recent = {"c1": in_flight.pop("c1")}
    assert take_request(_response(NONCE), in_flight, recent) is sent  # a late answer
    assert recent == {}


def test_worker_core_echoes_the_nonce_in_ok_and_error_answers() -> None:
    req = _request()
    ok = core.ok_response(req, worker_id="w", model_id="m", model_version=1, items=(),
                          worker_ms=1.0, ts_ms=1)
    err = core.error_response(req.correlation_id, "why", worker_id="w", model_id="m",
                              model_version=1, worker_ms=1.0, ts_ms=1, nonce=req.nonce)
    assert decode(CloudResponse, encode(ok)).nonce == NONCE
    assert decode(CloudResponse, encode(err)).nonce == NONCE
    assert decode(CloudRequest, encode(req)).nonce == NONCE


class RogueResponder:
    """The issue's attack: a subscriber to the request topic answering first, wrongly.

    It does not know the nonce's purpose (it copies everything else), as a client built
    against the old envelope would; see docs/security.md for a copier that reads the nonce
    (stopped by the cloud broker's ACL, tested in test_site_broker).
    """

    def __init__(self, host: str, port: int, topics) -> None:
        self.topics, self.sent = topics, 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rogue-{uuid.uuid4()}")
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        wanted = topics.filter(TopicKind.CLOUD_REQUEST)
        self.client.on_connect = lambda c, *a: c.subscribe(wanted, 1)
        self.client.connect(host, port)
        self.client.loop_start()
        assert ready.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        req = decode(CloudRequest, msg.payload)
        answers = tuple(CloudAnswer(i.device_id, i.epoch, i.seq, label=9, confidence=1.0)
                        for i in req.items)
        forged = CloudResponse(req.correlation_id, "ok", "rogue", "mnist-cloud", 9, 0.1,
                               req.ts_ms, answers)
        client.publish(self.topics.cloud_response(req.gateway_id), encode(forged), qos=1)
        self.sent += 1

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_rogue_responder_loses_every_race(broker, topics, start_gateway, results, closing):
    from edgecascade.cloud.config import parse_config
    from edgecascade.cloud.model import load_classifier
    from edgecascade.cloud.worker import CloudWorker

    rogue = RogueResponder(broker.host, broker.port, topics)
    closing.append(rogue)
    wcfg = parse_config({"version": 1, "worker_id": "wk1", "prefix": topics.prefix,
                         "shared_group": "ecw", "broker": {"url": broker.url, "keepalive": 10},
                         "model": {"path": str(CLOUD_MODEL), "max_batch": 32,
                                   "max_delay_ms": 5}}, env={})
    worker = CloudWorker(wcfg, load_classifier(str(CLOUD_MODEL)),
                         BrokerSettings(url=broker.url, keepalive=10))
    worker.start()
    closing.append(worker)
    _, unsure = edge_split()
    gw = start_gateway(broker.url, topics)
    reps = [report("d1", i, confident=False, image=unsure[i]) for i in range(8)]
    publish(broker.host, broker.port, [(topics.device_report("d1"), encode(r)) for r in reps])
    results.wait_for(8, 60)
    got = decoded_results(results)
    assert len({r.seq for r in got}) == 8
    assert all(r.tier == "cloud" and r.model_version != 9 for r in got), [r.to_plain() for r in got]
    assert rogue.sent >= 1
    assert 1 <= gw.metrics.value("rejected", reason=NONCE_MISMATCH) <= rogue.sent
