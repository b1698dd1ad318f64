"""The gateway's side of the S3 claim check, from ``[cloud] frame_store`` (thin I/O).

``[cloud] frame_store = "s3://bucket/prefix"`` makes the gateway put each frame too
large for one cloud request (AWS IoT: 128 KB) into S3 as an encoded
:class:`~edgecascade.protocol.Frame` and send its ``s3://bucket/prefix<key>`` reference
(the layout the worker's ``edgecascade.cloud.claimcheck.S3FrameStore`` reads, which the
gateway may not import: the tiers meet only in ``protocol.claimcheck``). Put-only: the
gateway never reads frames back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

from edgecascade.protocol.claimcheck import MAX_REF_LENGTH, ClaimCheckError


@dataclass
class S3PutStore:
    """``FrameStore`` (``put(key, data) -> ref``) on an S3 bucket; ``client``: boto3 S3."""

    bucket: str
    prefix: str
    client: Any

    def put(self, key: str, data: bytes) -> str:
        ref = f"s3://{self.bucket}/{self.prefix}{key}"
        if len(ref) > MAX_REF_LENGTH:
            raise ClaimCheckError(ref[:80], f"ref longer than {MAX_REF_LENGTH} characters")
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=bytes(data))
        except Exception as exc:  # botocore raises many types; we promise one
            status = int((getattr(exc, "response", None) or {}).get(
                "ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            raise ClaimCheckError(ref, f"put failed: {type(exc).__name__} {status or ''}",
                                  transient=not 400 <= status < 500) from None
        return ref


def parse_store_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix ending in ``/``); ``ValueError`` if not."""
    p = urlparse(url)
    if p.scheme != "s3" or not p.netloc:
        raise ValueError(f"frame_store must be s3://bucket/prefix, got {url!r}")
    prefix = p.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return p.netloc, prefix


class _StoreSettings(Protocol):  # gateway.config.CloudConfig (config imports this module)
    @property
    def frame_store(self) -> str: ...
    @property
    def frame_store_endpoint_url(self) -> str: ...
    @property
    def frame_store_region(self) -> str: ...


def store_for(cloud: _StoreSettings) -> S3PutStore | None:
    """The claim-check store ``[cloud] frame_store`` names, or None."""
    return store_from_config(cloud.frame_store, endpoint_url=cloud.frame_store_endpoint_url,
                             region=cloud.frame_store_region)


def store_from_config(url: str, *, endpoint_url: str = "", region: str = "") -> S3PutStore | None:
    """The configured store, or None when ``url`` is empty (needs boto3, extra ``aws``)."""
    if not url:
        return None
    import boto3

    bucket, prefix = parse_store_url(url)
    client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None)
    return S3PutStore(bucket, prefix, client)
