"""AWS IoT Core billed messages per 1,000 escalated frames: packed requests vs one per frame.

    python -m edgecascade.tools.bench.cloud_billing [--quick]

Real run: 1,000 real MNIST frames through a real worker on loopback mosquitto; the
worker meters every message it receives and publishes the way AWS bills them
(``billed_messages``: per started 5 KB of payload), requests in and responses out.
Rows: both directions together, and requests alone (frames dominate: a 784-byte
frame is ~0.16 of a 5 KB unit, the floor for any packing).
"""

from __future__ import annotations

import sys
import uuid

from edgecascade.gateway.config import CloudConfig
from edgecascade.protocol import Topics, encode
from edgecascade.tools.bench import cloud_harness as h
from edgecascade.tools.bench.common import Row, print_rows

COMMAND = "python -m edgecascade.tools.bench.cloud_billing"


def billed(b: h.MosquittoBroker, frames: int, per_request: int) -> tuple[float, float]:
    """(requests in, responses out) billed messages for ``frames`` frames."""
    topics = Topics(f"b{uuid.uuid4().hex[:8]}/v1")
    reqs = h.requests(h.images(frames), per_request)
    with h.worker(b, topics, max_batch=64, max_delay_ms=5.0) as w:
        w.limiter = type(w.limiter)(1_000_000)  # loopback: measure billing, not pacing
        client = h.Client(b.host, b.port, topics.cloud_response(h.GATEWAY))
        try:
            out_before = w.metrics.value("ec_cloud_billed_messages_total", direction="out")
            for r in reqs:
                client.publish(topics.cloud_request(h.GATEWAY), encode(r))
            client.wait([r.correlation_id for r in reqs])
            billed_in = w.metrics.value("ec_cloud_billed_messages_total", direction="in")
            billed_out = w.metrics.value("ec_cloud_billed_messages_total",
                                         direction="out") - out_before
        finally:
            client.close()
    return billed_in, billed_out


def run(quick: bool = False) -> list[Row]:
    frames = 1000
    rows = []
    with h.broker() as b:
        one_in, one_out = billed(b, frames, 1)
        default = CloudConfig().max_items  # what a gateway packs by default
        for per in sorted({32, default, 128}):
            p_in, p_out = billed(b, frames, per)
            tag = " (gateway default)" if per == default else ""
            rows.append(Row(f"billed AWS messages per 1,000 frames, {per} frames/request{tag} "
                            "vs 1 (requests + responses)", p_in + p_out, one_in + one_out,
                            "messages", COMMAND, "<= 0.1" if per == default else ""))
            rows.append(Row(f"billed AWS messages per 1,000 frames, {per} frames/request vs 1 "
                            "(requests only)", p_in, one_in, "messages", COMMAND, ""))
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
