"""AWS glue for the worker: IoT Core endpoint discovery, broker settings, the S3 store.

boto3 is an optional dependency (extra ``aws``), imported only here and only when used.
"""

from __future__ import annotations

from typing import Any

from edgecascade.errors import CloudError
from edgecascade.mqtt import BrokerSettings

from .claimcheck import S3FrameStore
from .config import WorkerConfig

#: AWS IoT Core's MQTT over TLS port.
IOT_MQTTS_PORT = 8883
#: The endpoint type whose certificate chains to Amazon Root CA 1 (what to use today).
ENDPOINT_TYPE = "iot:Data-ATS"


class AwsError(CloudError, RuntimeError):
    """An AWS call the worker or provisioning needs failed; ``what`` names the call."""

    def __init__(self, what: str, why: str) -> None:
        self.what = what
        self.why = why
        super().__init__(f"{what}: {why}")


def iot_client(region: str | None, endpoint_url: str | None = None) -> Any:
    import boto3

    return boto3.client("iot", region_name=region, endpoint_url=endpoint_url)


def discover_endpoint(client: Any) -> str:
    """``mqtts://<account>-ats.iot.<region>.amazonaws.com:8883`` from ``describe_endpoint``."""
    try:
        address = client.describe_endpoint(endpointType=ENDPOINT_TYPE)["endpointAddress"]
    except Exception as exc:
        raise AwsError("iot.describe_endpoint", f"{type(exc).__name__}: {exc}") from None
    return f"mqtts://{address}:{IOT_MQTTS_PORT}"


def broker_settings(config: WorkerConfig, *, client: Any = None) -> BrokerSettings:
    """The worker's broker settings; discovers the AWS endpoint when no URL is configured."""
    b = config.broker
    url = b.url
    if url is None:
        url = discover_endpoint(client or iot_client(config.aws.region, config.aws.endpoint_url))
    return BrokerSettings(url=url, username=b.username, password=b.password, ca_file=b.ca_file,
                          cert_file=b.cert_file, key_file=b.key_file, keepalive=b.keepalive,
                          mqtt5=b.mqtt5)


def frame_store(config: WorkerConfig) -> S3FrameStore | None:
    c = config.claimcheck
    if c is None:
        return None
    import boto3

    client = boto3.client("s3", region_name=c.region, endpoint_url=c.endpoint_url)
    return S3FrameStore(c.bucket, c.prefix, client=client, max_object_bytes=c.max_object_bytes)
