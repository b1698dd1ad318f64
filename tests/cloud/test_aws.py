"""AWS parts against moto in server mode (a real HTTP server on loopback)."""

from __future__ import annotations

import json
import stat
import uuid

import boto3
import pytest

from edgecascade.cli import main
from edgecascade.cloud.aws import AwsError, discover_endpoint
from edgecascade.cloud.claimcheck import S3FrameStore
from edgecascade.cloud.provision import THING, policy_document
from edgecascade.protocol import CloudItem, CloudRequest
from edgecascade.protocol.claimcheck import ClaimCheckError, frame_key
from edgecascade.tools.broker import free_port
from tests.cloud.helpers import frame_of, sample_images


@pytest.fixture
def s3(moto_url):
    client = boto3.client("s3", endpoint_url=moto_url, region_name="eu-west-1")
    bucket = f"ec-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client, bucket


# -- claim-check ---------------------------------------------------------------------------
def test_frame_round_trips_through_s3(s3):
    client, bucket = s3
    store = S3FrameStore(bucket, "frames", client=client)
    images, _ = sample_images(1)
    frame = frame_of(images[0])
    ref = store.put_frame(frame_key("gw1", "dev1", 3, 7), frame)
    assert ref == f"s3://{bucket}/frames/gw1/dev1/3/7"
    assert store.get_frame(ref) == frame
    assert store.get(ref) == client.get_object(Bucket=bucket,
                                               Key="frames/gw1/dev1/3/7")["Body"].read()


@pytest.mark.parametrize("ref,why", [
    ("https://x/y", "not an s3"),
    ("s3://other-bucket/frames/a", "is not"),
    ("s3://{bucket}/secrets/a", "not under prefix"),
    ("s3://{bucket}/frames/../secrets", "not under prefix"),
])
def test_refs_outside_the_store_are_refused(s3, ref, why):
    client, bucket = s3
    store = S3FrameStore(bucket, "frames/", client=client)
    with pytest.raises(ClaimCheckError) as err:
        store.get(ref.format(bucket=bucket))
    assert why in err.value.why and not err.value.transient


def test_missing_object_is_a_permanent_error(s3):
    client, bucket = s3
    store = S3FrameStore(bucket, client=client)
    with pytest.raises(ClaimCheckError) as err:
        store.get(f"s3://{bucket}/frames/nope")
    assert not err.value.transient and "NoSuchKey" in err.value.why


def test_unreachable_store_is_a_transient_error():
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{free_port()}",
                          region_name="eu-west-1",
                          config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    store = S3FrameStore("b", client=client)
    with pytest.raises(ClaimCheckError) as err:
        store.get("s3://b/frames/x")
    assert err.value.transient
    with pytest.raises(ClaimCheckError):
        store.put("x", b"1")


def test_oversized_and_non_frame_objects_are_refused(s3):
    client, bucket = s3
    store = S3FrameStore(bucket, client=client, max_object_bytes=1000)
    with pytest.raises(ClaimCheckError):
        store.put("big", bytes(1001))
    client.put_object(Bucket=bucket, Key="frames/big", Body=bytes(2000))
    with pytest.raises(ClaimCheckError) as err:
        store.get(f"s3://{bucket}/frames/big")
    assert "exceed" in err.value.why
    ref = store.put("junk", b"not msgpack")
    with pytest.raises(ClaimCheckError) as err:
        store.get_frame(ref)
    assert "not an encoded frame" in err.value.why


def test_worker_fetches_claim_checked_frames(s3, broker, topics, worker_factory,
                                             requester_factory, classifier):
    client, bucket = s3
    store = S3FrameStore(bucket, client=client)
    images, _ = sample_images(3)
    refs = [store.put_frame(frame_key("gw1", "dev1", 1, i), frame_of(img))
            for i, img in enumerate(images)]
    items = (CloudItem("dev1", 1, 0, frame_ref=refs[0]),
             CloudItem("dev1", 1, 1, frame=frame_of(images[1])),
             CloudItem("dev1", 1, 2, frame_ref=refs[2]),
             CloudItem("dev1", 1, 3, frame_ref=f"s3://{bucket}/frames/gone"))
    worker = worker_factory(broker, topics, store=store)
    req = requester_factory(broker.host, broker.port, topics)
    req.send(CloudRequest("cc-1", "gw1", 1, 5000, items))
    resp = req.wait(["cc-1"])["cc-1"]
    expected = classifier.predict(images).argmax(1).tolist()
    assert [a.label for a in resp.items[:3]] == expected
    assert resp.items[3].error and "NoSuchKey" in resp.items[3].error
    assert worker.metrics.value("ec_cloud_errors_total", reason="claimcheck:permanent") == 1


def test_claim_check_configured_from_toml(moto_url, s3, broker, topics, tmp_path):
    from edgecascade.cloud.aws import frame_store
    from tests.cloud.helpers import make_config

    _, bucket = s3
    cfg = make_config(broker.url, topics, claimcheck={"bucket": bucket, "endpoint_url": moto_url,
                                                      "region": "eu-west-1"})
    store = frame_store(cfg)
    assert store is not None
    assert store.get(store.put("k", b"abc")) == b"abc"


# -- endpoint discovery and provisioning ----------------------------------------------------
def test_endpoint_discovery_uses_the_ats_endpoint(moto_url):
    iot = boto3.client("iot", endpoint_url=moto_url, region_name="eu-west-1")
    url = discover_endpoint(iot)
    assert url.startswith("mqtts://") and url.endswith(":8883") and "-ats.iot." in url


def test_endpoint_discovery_failure_is_a_clear_error():
    iot = boto3.client("iot", endpoint_url=f"http://127.0.0.1:{free_port()}",
                       region_name="eu-west-1")
    with pytest.raises(AwsError) as err:
        discover_endpoint(iot)
    assert err.value.what == "iot.describe_endpoint"


def _statements(doc, action):
    return [s for s in doc["Statement"] if s["Action"] == action]


def test_gateway_policy_scopes_everything_to_the_connecting_thing():
    doc = policy_document("gateway", prefix="ec/v1", region="eu-west-1", account="123")
    connect = _statements(doc, "iot:Connect")[0]
    assert connect["Resource"] == f"arn:aws:iot:eu-west-1:123:client/{THING}"
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    for action in ("iot:Publish", "iot:RetainPublish", "iot:Subscribe", "iot:Receive"):
        for res in _statements(doc, action)[0]["Resource"]:
            assert THING in res, f"{action} {res} not scoped to the thing"
            assert "*" not in res.replace(THING, ""), f"{action} {res} has a wildcard"
    pubs = _statements(doc, "iot:Publish")[0]["Resource"]
    assert f"arn:aws:iot:eu-west-1:123:topic/ec/v1/cloud/req/{THING}" in pubs
    assert _statements(doc, "iot:Subscribe")[0]["Resource"] == [
        f"arn:aws:iot:eu-west-1:123:topicfilter/ec/v1/cloud/res/{THING}"]


def test_worker_policy_allows_shared_and_plain_request_subscriptions():
    doc = policy_document("worker", prefix="ec/v1", region="r", account="1")
    subs = _statements(doc, "iot:Subscribe")[0]["Resource"]
    assert "arn:aws:iot:r:1:topicfilter/$share/*/ec/v1/cloud/req/+" in subs
    assert "arn:aws:iot:r:1:topicfilter/ec/v1/cloud/req/+" in subs
    assert _statements(doc, "iot:RetainPublish")[0]["Resource"] == [
        f"arn:aws:iot:r:1:topic/ec/v1/wk/{THING}/state"]


def test_provision_aws_creates_thing_certificate_and_scoped_policy(moto_url, tmp_path, capsys):
    thing = f"gw-{uuid.uuid4().hex[:8]}"
    policy = f"pol-{uuid.uuid4().hex[:8]}"
    rc = main(["provision-aws", "--thing", thing, "--region", "eu-west-1", "--policy-name",
               policy, "--out", str(tmp_path), "--endpoint-url", moto_url])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    iot = boto3.client("iot", endpoint_url=moto_url, region_name="eu-west-1")
    assert iot.describe_thing(thingName=thing)["thingName"] == thing
    cert_arn = report["certificate_arn"]
    assert iot.list_thing_principals(thingName=thing)["principals"] == [cert_arn]
    attached = iot.list_attached_policies(target=cert_arn)["policies"]
    assert [p["policyName"] for p in attached] == [policy]
    cert_id = cert_arn.rsplit("/", 1)[1]
    assert iot.describe_certificate(certificateId=cert_id)["certificateDescription"][
        "status"] == "ACTIVE"
    doc = json.loads(iot.get_policy(policyName=policy)["policyDocument"])
    assert doc == policy_document("gateway", prefix="ec/v1", region="eu-west-1",
                                  account=cert_arn.split(":")[4])
    cert = tmp_path / f"{thing}.cert.pem"
    key = tmp_path / f"{thing}.private.key"
    assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" in key.read_text()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    snippet = (tmp_path / f"{thing}.toml").read_text()
    assert f'gateway_id = "{thing}"' in snippet and "[cloud_broker]" in snippet
    assert report["endpoint"] in snippet and str(key.resolve()) in snippet


def test_second_thing_reuses_the_policy_and_a_conflicting_one_is_refused(moto_url, tmp_path,
                                                                         capsys):
    policy = f"pol-{uuid.uuid4().hex[:8]}"
    base = ["--region", "eu-west-1", "--policy-name", policy, "--out", str(tmp_path),
            "--endpoint-url", moto_url]
    assert main(["provision-aws", "--thing", f"a{uuid.uuid4().hex[:6]}", *base]) == 0
    capsys.readouterr()
    assert main(["provision-aws", "--thing", f"b{uuid.uuid4().hex[:6]}", *base]) == 0
    assert json.loads(capsys.readouterr().out)["policy_created"] is False
    rc = main(["provision-aws", "--thing", "c1", "--role", "worker", *base])
    assert rc == 1 and "different document" in capsys.readouterr().err


def test_provision_refuses_a_thing_name_that_is_not_a_valid_id(moto_url, tmp_path, capsys):
    rc = main(["provision-aws", "--thing", "bad/name", "--region", "eu-west-1", "--out",
               str(tmp_path), "--endpoint-url", moto_url])
    assert rc == 1 and "thing" in capsys.readouterr().err


def test_worker_without_a_url_discovers_the_aws_endpoint(moto_url, tmp_path):
    from edgecascade.cloud.aws import broker_settings
    from edgecascade.cloud.config import parse_config
    from edgecascade.protocol import Topics
    from tests.cloud.helpers import config_dict

    for name in ("c.pem", "k.pem"):
        (tmp_path / name).write_text("x")
    doc = config_dict("unused", Topics())
    doc["broker"] = {"cert_file": str(tmp_path / "c.pem"), "key_file": str(tmp_path / "k.pem")}
    doc["aws"] = {"region": "eu-west-1", "endpoint_url": moto_url}
    settings = broker_settings(parse_config(doc, env={}))
    # (moto makes up a new account prefix on every call)
    assert settings.url.startswith("mqtts://")
    assert settings.url.endswith("-ats.iot.eu-west-1.amazonaws.com:8883")
    assert settings.tls and settings.port == 8883
    assert settings.cert_file == str(tmp_path / "c.pem")
