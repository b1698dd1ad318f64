"""A frame too big for AWS IoT (over 128 KB) goes device -> site broker -> gateway ->
S3 (moto server, configured by ``[cloud] frame_store``) -> worker -> answer, end to end:
the site's payload limit is the site's own, the cloud's stays 128 KB."""

from __future__ import annotations

import uuid

import boto3
import numpy as np
import pytest

from edgecascade.cloud.aws import broker_settings, frame_store
from edgecascade.cloud.model import load_classifier
from edgecascade.cloud.worker import CloudWorker
from edgecascade.config import HttpSection
from edgecascade.gateway.config import CloudConfig, EdgeConfig, GatewayConfig, StorageConfig
from edgecascade.gateway.service import Gateway
from edgecascade.models.runtime import ModelRunner
from edgecascade.models.tensors import frame_to_real
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import Frame, Report, Result, TopicKind, confidence_to_wire, encode
from edgecascade.protocol.limits import MAX_PAYLOAD_BYTES, MAX_SITE_PAYLOAD_BYTES
from edgecascade.tools.models.dense_tflite import dense_tflite
from tests.cloud.helpers import make_config
from tests.support import Collector, publish

SHAPE = (240, 200, 3)  # an RGB image, 144,000 int8 values: a 141 KB frame


@pytest.fixture
def s3(moto_url):
    client = boto3.client("s3", endpoint_url=moto_url, region_name="eu-west-1")
    bucket = f"ec-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client, bucket


def test_frame_over_128_kb_travels_by_claim_check(broker, topics, tmp_path, s3, moto_url):
    client, bucket = s3
    rng = np.random.default_rng(5)
    n = int(np.prod(SHAPE))
    model = tmp_path / "big-cloud.tflite"
    model.write_bytes(dense_tflite([(rng.normal(0, 0.01, (4, n)).astype(np.float32),
                                     np.zeros(4, np.float32))], SHAPE))
    cfg = make_config(broker.url, topics, model_path=model, claimcheck={
        "bucket": bucket, "prefix": "frames/", "region": "eu-west-1",
        "endpoint_url": moto_url})
    worker = CloudWorker(cfg, load_classifier(str(model)), broker_settings(cfg),
                         store=frame_store(cfg))
    worker.start()
    results = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    gw = Gateway(GatewayConfig(
        gateway_id="gw1", prefix=topics.prefix,
        broker=BrokerSettings(url=broker.url, keepalive=5),
        edge=EdgeConfig(model=""),
        cloud=CloudConfig(deadline_ms=15000, frame_store=f"s3://{bucket}/frames",
                          frame_store_endpoint_url=moto_url, frame_store_region="eu-west-1"),
        storage=StorageConfig(state_dir=str(tmp_path / "gw")),
        http=HttpSection(port=0), metrics_interval_s=0.5)).start()
    try:
        frame = Frame(data=rng.integers(-100, 100, n).astype(np.int8).tobytes(), shape=SHAPE,
                      dtype="int8", scale=1 / 255, zero_point=-128)  # a camera image
        report = Report(device_id="cam1", epoch=1, seq=1, ts_ms=1_700_000_000_000,
                        model_id="big-mcu", model_version=1, classes=(0, 1),
                        confidences=(confidence_to_wire(0.4), confidence_to_wire(0.3)),
                        frame=frame)
        payload = encode(report, MAX_SITE_PAYLOAD_BYTES)
        assert len(payload) > MAX_PAYLOAD_BYTES  # AWS IoT could never carry it inline
        publish(broker.host, broker.port, [(topics.device_report("cam1"), payload)])
        got = results.wait_for(1, 60)
        result = [r for r in results.decoded(Result) if isinstance(r, Result)][0]
        runner = ModelRunner(model)
        want = int(runner.predict_real(frame_to_real(frame, runner.input_spec)[None])
                   .argmax())
        assert got and result.tier == "cloud" and result.label == want, results.describe()
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert keys == ["frames/gw1/cam1/1/1"]
    finally:
        gw.stop()
        worker.stop(timeout=10)
        results.close()
