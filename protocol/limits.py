"""Every size limit of the wire contract, in one place.

AWS IoT Core is the strictest broker we target, so its quotas are the contract:
https://docs.aws.amazon.com/general/latest/gr/iot-core.html
"""

from __future__ import annotations

#: Largest MQTT payload AWS IoT Core accepts (bytes): every message that may reach the
#: cloud (cloud requests, responses, status) stays within it.
MAX_PAYLOAD_BYTES = 128 * 1024
#: The site broker is the site's own (mosquitto accepts far more than AWS): device
#: reports and the frames they carry may be up to the site's configured limit
#: (gateway ``site_max_payload_bytes``, default :data:`DEFAULT_SITE_PAYLOAD_BYTES`),
#: never above this ceiling. A frame too large for AWS reaches the cloud by claim check.
MAX_SITE_PAYLOAD_BYTES = 16 * 1024 * 1024
#: The site payload limit when the site configures none.
DEFAULT_SITE_PAYLOAD_BYTES = 1024 * 1024
#: Largest topic name AWS IoT Core accepts (UTF-8 bytes).
MAX_TOPIC_BYTES = 256
#: Most forward slashes AWS IoT Core accepts in a topic or filter.
MAX_TOPIC_SLASHES = 7
#: AWS IoT Core bills messages in 5 KB increments of payload.
BILLING_UNIT_BYTES = 5 * 1024
#: AWS IoT Core accepts at most this many publishes per second on one connection.
MAX_PUBLISH_PER_SECOND = 100
#: Longest MQTT client id AWS IoT Core accepts.
MAX_CLIENT_ID_BYTES = 128

#: Device, gateway and worker ids: ``[A-Za-z0-9_-]{1,64}``.
ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
#: Longest device, gateway, worker or model id (``ID_PATTERN``).
MAX_ID_LENGTH = 64
#: Topic prefix root segment (before the version segment).
MAX_PREFIX_ROOT_LENGTH = 32

#: Most classes a report or answer may list.
MAX_TOPK = 10
#: Most frames one cloud request may carry.
MAX_ITEMS_PER_REQUEST = 256
#: Most dimensions a frame shape may have.
MAX_FRAME_DIMS = 4
#: Longest free-text field (reasons, errors) in characters.
MAX_TEXT_LENGTH = 256
#: Longest version string (firmware, service) in characters.
MAX_VERSION_LENGTH = 32
#: Longest claim-check reference (``CloudItem.frame_ref``); S3 keys are at most 1024 bytes.
MAX_REF_LENGTH = 1024
#: Most counters a metrics message may carry.
MAX_METRICS = 256

#: Current schema version written into every payload (field 0).
SCHEMA_VERSION = 1

#: Confidences on the device wire are fixed point: ``value / CONFIDENCE_SCALE``.
CONFIDENCE_SCALE = 65535


def billed_messages(payload_bytes: int) -> int:
    """How many messages AWS IoT Core bills for one payload of this size."""
    if payload_bytes < 0:
        raise ValueError("payload size cannot be negative")
    return max(1, -(-payload_bytes // BILLING_UNIT_BYTES))

#: A sha256 digest (model manifests) in bytes.
SHA256_BYTES = 32
#: Largest model file a manifest may announce: one ESP32 model slot (partitions.csv).
MAX_MODEL_BYTES = 128 * 1024
#: Default bytes per ``ModelChunk``: one esp-mqtt receive buffer on the board; 5 chunks
#: for the 18 KB mcu model.
MODEL_CHUNK_BYTES = 4096
#: Largest ``ModelChunk.data``: leaves room for the chunk's other fields under the
#: payload limit.
MAX_MODEL_CHUNK_BYTES = 64 * 1024
#: Most chunks one model version may have.
MAX_MODEL_CHUNKS = 1024
#: Most device ids one manifest may target.
MAX_OTA_TARGETS = 256
