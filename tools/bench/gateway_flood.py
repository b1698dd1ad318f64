"""A flooding device against the gateway's per-device rate limit (issue 12).

    python -m edgecascade.tools.bench.gateway_flood [--quick]

Ten polite devices report at 5/s each (confident frames, answered at the device tier)
through a real mosquitto to a real gateway (its trust checks with the default
``TrustSettings``: 20 new seqs/s per device, 256 at once). The flooded run adds one
device at 50x that rate (250/s). Figures: the share of the polite devices' frames
answered (every one, counted), the gateway's p99 publish -> result latency for them
against the unflooded run in the same process (target within 2x), and how many of the
flooder's reports were dropped and counted as ``rejected{reason="report:rate_limited"}``.
Median of several runs.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from edgecascade.gateway.service import Gateway
from edgecascade.gateway.trust import RATE_LIMITED, Trust, TrustSettings
from edgecascade.protocol import Report, TopicKind, Topics
from edgecascade.tools.bench import gateway_harness as h
from edgecascade.tools.bench.common import Row, bench_main, percentile
from edgecascade.tools.broker import MosquittoBroker

COMMAND = "python -m edgecascade.tools.bench.gateway_flood"
POLITE = [f"p{i:02d}" for i in range(10)]
RATE = 5.0  # reports/s per polite device
FLOOD_X = 50


def _reports(device: str, n: int, tag: int) -> list[Report]:
    return h.make_reports(n, confident=True, device=device, tag=tag)


def _measure(b: MosquittoBroker, tmp: Path, seconds: float, flood: bool,
             tag: int) -> tuple[float, float, int, int]:
    """(share of polite frames answered, their p99 ms, flooder sent, flooder dropped)."""
    topics = Topics(f"b{uuid.uuid4().hex[:8]}/v1")
    devices = [*POLITE, "flooder"]
    gw = Gateway(h.gateway_config(tmp, b.url, topics, edge=False),
                 trust=Trust(TrustSettings(allowlist=frozenset(devices))))
    gw.start()
    sink = h.Sink(b, topics.filter(TopicKind.RESULT))
    polite_src, flood_src = h.Source(b, topics), h.Source(b, topics)
    n = int(seconds * RATE)
    per_device = [_reports(d, n, tag) for d in POLITE]
    polite = [r for step in zip(*per_device, strict=True) for r in step]  # round robin
    flooding = _reports("flooder", int(seconds * RATE * FLOOD_X), tag) if flood else []
    try:
        threads = [threading.Thread(target=polite_src.send, args=(polite, RATE * len(POLITE)))]
        if flooding:
            threads.append(threading.Thread(target=flood_src.send,
                                            args=(flooding, RATE * FLOOD_X)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        want = {r.key for r in polite}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = {res.key for _, res in sink.results() if res.key in want}
            if len(got) == len(want):
                break
            time.sleep(0.05)
        arrivals = {res.key: t for t, res in sink.results()}
        lat = [(arrivals[k] - polite_src.sent[k]) * 1000 for k in want if k in arrivals]
        answered = sum(1 for k in want if k in arrivals) / len(want)
        dropped = int(gw.metrics.value("rejected", reason=RATE_LIMITED))
        return answered, percentile(lat, 99), len(flooding), dropped
    finally:
        sink.close()
        polite_src.close()
        flood_src.close()
        gw.stop()


def run(quick: bool = False) -> list[Row]:
    seconds = 4.0 if quick else 10.0
    runs = 1 if quick else 3
    calm_p99, flood_p99, calm_share, flood_share, sent, dropped = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmpdir, h.broker() as b:
        tmp = Path(tmpdir)
        _measure(b, tmp, 1.0, False, 1)  # warm up
        for i in range(runs):
            share, p99, _, _ = _measure(b, tmp, seconds, False, 10 + i)
            calm_share.append(share)
            calm_p99.append(p99)
            share, p99, n, d = _measure(b, tmp, seconds, True, 20 + i)
            flood_share.append(share)
            flood_p99.append(p99)
            sent.append(n)
            dropped.append(d)
    med = statistics.median
    return [
        Row("polite devices' frames answered under a 50x flood (share)", min(flood_share),
            min(calm_share), "share", COMMAND, target="value == 1.0"),
        Row("gateway p99 for the other devices, flooded vs unflooded", med(flood_p99),
            med(calm_p99), "ms", COMMAND, target="ratio <= 2"),
        Row("flooder's reports dropped and counted (rate_limited)", med(dropped), med(sent),
            "reports", COMMAND, target="most of them"),
    ]


if __name__ == "__main__":
    bench_main(run, __doc__)
