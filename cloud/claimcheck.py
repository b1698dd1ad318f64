"""S3 claim-check: frames travel by reference when they do not fit in one message.

The gateway puts an encoded :class:`~edgecascade.protocol.Frame` (``encode(frame)``,
so the shape, dtype and quantization travel with the bytes) into S3 and sends a
:class:`~edgecascade.protocol.CloudItem` with ``frame_ref = "s3://bucket/key"``; the
worker fetches and decodes it. Keys are deterministic per frame
(:func:`edgecascade.protocol.claimcheck.frame_key`), so a retried put overwrites rather
than duplicates; expire the prefix with an S3 lifecycle rule (frames are only needed
until answered).

``S3FrameStore`` implements the ``FrameStore`` seam of ``edgecascade.protocol.claimcheck``
(``put(key, bytes) -> ref``) plus ``get(ref) -> bytes``. It only reads refs in its own
bucket and under its own prefix: a request can never make a worker fetch an arbitrary
object.

Errors are :class:`~edgecascade.protocol.claimcheck.ClaimCheckError` (``ref``, ``why``,
``transient``), defined with the seam so the gateway can catch them without importing the
cloud tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from edgecascade.protocol import Frame, ProtocolError, decode, encode
from edgecascade.protocol.claimcheck import MAX_REF_LENGTH, ClaimCheckError
from edgecascade.protocol.limits import MAX_SITE_PAYLOAD_BYTES

# ClaimCheckError is defined with the seam; it is named here too for the worker's import.
__all__ = ["DEFAULT_MAX_OBJECT_BYTES", "ClaimCheckError", "S3FrameStore"]

#: Largest object a worker will read into memory.
DEFAULT_MAX_OBJECT_BYTES = 16 * 1024 * 1024

_PERMANENT_CODES = {"NoSuchKey", "NoSuchBucket", "AccessDenied", "404", "403", "InvalidObjectState"}


@dataclass
class S3FrameStore:
    """Frames in ``s3://bucket/prefix...``; ``client`` is a boto3 S3 client."""

    bucket: str
    prefix: str = "frames/"
    client: Any = None
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES

    def __post_init__(self) -> None:
        if not self.bucket or "/" in self.bucket:
            raise ValueError(f"bad bucket name {self.bucket!r}")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        if self.client is None:
            import boto3  # optional dependency (extra "aws"), imported only when used

            self.client = boto3.client("s3")

    # -- refs -----------------------------------------------------------------
    def ref_for(self, key: str) -> str:
        ref = f"s3://{self.bucket}/{self.prefix}{key}"
        if len(ref) > MAX_REF_LENGTH:
            raise ClaimCheckError(ref[:80], f"ref longer than {MAX_REF_LENGTH} characters")
        return ref

    def key_of(self, ref: str) -> str:
        """The full object key a ref names; ``ClaimCheckError`` unless it is ours."""
        parsed = urlparse(ref)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ClaimCheckError(ref[:120], "not an s3://bucket/key reference")
        if parsed.netloc != self.bucket:
            raise ClaimCheckError(ref[:120], f"bucket {parsed.netloc!r} is not {self.bucket!r}")
        key = parsed.path.lstrip("/")
        inside = key.startswith(self.prefix) and len(key) > len(self.prefix)
        if not inside or ".." in key.split("/"):
            raise ClaimCheckError(ref[:120], f"key is not under prefix {self.prefix!r}")
        return key

    # -- the FrameStore seam ---------------------------------------------------
    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``prefix + key``; return its ``s3://`` ref."""
        ref = self.ref_for(key)
        if len(data) > self.max_object_bytes:
            raise ClaimCheckError(ref, f"{len(data)} bytes exceed {self.max_object_bytes}")
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=bytes(data))
        except Exception as exc:  # botocore raises many types; we promise one
            raise _translate(ref, "put", exc) from None
        return ref

    def get(self, ref: str) -> bytes:
        """The bytes a ref names."""
        key = self.key_of(ref)
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=key)
            size = int(obj.get("ContentLength", 0))
            if size > self.max_object_bytes:
                obj["Body"].close()
                raise ClaimCheckError(
                    ref, f"object of {size} bytes exceeds {self.max_object_bytes}")
            data = obj["Body"].read(self.max_object_bytes + 1)
        except ClaimCheckError:
            raise
        except Exception as exc:
            raise _translate(ref, "get", exc) from None
        if len(data) > self.max_object_bytes:
            raise ClaimCheckError(ref, f"object exceeds {self.max_object_bytes} bytes")
        return bytes(data)

    # -- frames ----------------------------------------------------------------
    def put_frame(self, key: str, frame: Frame) -> str:
        return self.put(key, encode(frame, MAX_SITE_PAYLOAD_BYTES))

    def get_frame(self, ref: str) -> Frame:
        data = self.get(ref)
        try:
            return decode(Frame, data, MAX_SITE_PAYLOAD_BYTES)  # hook (anymodel)
        except ProtocolError as exc:
            raise ClaimCheckError(ref, f"object is not an encoded frame: {exc}") from None


def _translate(ref: str, op: str, exc: Exception) -> ClaimCheckError:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {}) or {}
        code = str(err.get("Code", ""))
        status = (response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode", 0)
        transient = code not in _PERMANENT_CODES and not (400 <= int(status or 0) < 500
                                                          and code != "SlowDown")
        return ClaimCheckError(ref, f"{op} failed: {code or status}", transient=transient)
    # connection refused, timeouts, DNS: the store may come back
    return ClaimCheckError(ref, f"{op} failed: {type(exc).__name__}", transient=True)
