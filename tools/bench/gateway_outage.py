"""A cloud outage under load: every frame answered, nothing lost, the spool drained.

    python -m edgecascade.tools.bench.gateway_outage [--quick] [--outage SECONDS]

Real parts: a site mosquitto and a cloud mosquitto, the gateway in process (real edge
model, SQLite spool), the real cloud worker with the cloud model. Devices send unsure
reports with frames at a steady rate; the edge threshold is raised so that most frames
need the cloud. The cloud broker is killed for ``--outage`` seconds (60 by default) and
started again on the same port. Measured in the same run: the worker's capacity (a
burst of 64-frame requests, the gateway's packing, straight to the worker before the
gateway starts: the baseline of the drain rate), the steady-state cloud answer rate
before the outage (the offered load, for reference) and the spool drain rate after it,
frames answered, lost, duplicate finals (a second revision-0 result, or two cloud
answers, for a frame).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgecascade.gateway.config import CloudConfig
from edgecascade.gateway.service import Gateway
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import TopicKind, Topics
from edgecascade.tools.bench import gateway_harness as h
from edgecascade.tools.bench.common import Row, print_rows

COMMAND = "python -m edgecascade.tools.bench.gateway_outage"


def _worker(cloud_url: str, topics: Topics) -> Any:
    from edgecascade.cloud.config import parse_config
    from edgecascade.cloud.model import load_classifier
    from edgecascade.cloud.worker import CloudWorker

    cfg = parse_config({"version": 1, "worker_id": "wkbench", "prefix": topics.prefix,
                        "shared_group": "ecw", "broker": {"url": cloud_url, "keepalive": 5},
                        "model": {"path": str(h.CLOUD_MODEL), "max_batch": 64,
                                  "max_delay_ms": 5}}, env={})
    worker = CloudWorker(cfg, load_classifier(str(h.CLOUD_MODEL)),
                         BrokerSettings(url=cloud_url, keepalive=5))
    worker.start()
    return worker


def worker_capacity(cloud: h.MosquittoBroker, topics: Topics, frames: int = 1280) -> float:
    """Frames/s the worker answers for a burst of 64-frame requests (no gateway yet)."""
    from edgecascade.protocol import encode
    from edgecascade.tools.bench import cloud_harness as ch

    client = ch.Client(cloud.host, cloud.port, topics.cloud_response(ch.GATEWAY))
    try:
        warm = ch.requests(h.images(64), 64)
        client.publish(topics.cloud_request(ch.GATEWAY), encode(warm[0]))
        client.wait([warm[0].correlation_id])
        reqs = ch.requests(h.images(frames), 64)
        payloads = [encode(r) for r in reqs]
        start = time.monotonic()
        for p in payloads:
            client.publish(topics.cloud_request(ch.GATEWAY), p)
        client.wait([r.correlation_id for r in reqs])
        return frames / (time.monotonic() - start)
    finally:
        client.close()


def one_run(outage_s: float, warm_s: float, after_s: float, rate: float) -> dict[str, float]:
    topics = Topics(f"o{uuid.uuid4().hex[:8]}/v1")
    with tempfile.TemporaryDirectory() as tmpdir, h.broker("site") as site, \
            h.broker("cloud") as cloud:
        tmp = Path(tmpdir)
        worker = _worker(cloud.url, topics)
        capacity = worker_capacity(cloud, topics)
        cfg = h.gateway_config(tmp, site.url, topics, cloud_url=cloud.url, edge=True,
                               cloud=CloudConfig(deadline_ms=1000, breaker_reset_s=1.0,
                                                 retry_s=1.0))
        cfg = replace(cfg, thresholds=replace(cfg.thresholds, edge_confidence=0.999))
        gw = Gateway(cfg).start()
        sink = h.Sink(site, topics.filter(TopicKind.RESULT))
        source = h.Source(site, topics)
        total = int(rate * (warm_s + outage_s + after_s))
        reports = h.make_reports(total, confident=False, tag=1)
        stop = threading.Event()
        loader = threading.Thread(target=source.send, args=(reports, rate, stop))
        try:
            loader.start()
            time.sleep(warm_s / 2)
            c0, t0 = gw.metrics.value("results", tier="cloud", reason="cloud_answer"), \
                time.monotonic()
            time.sleep(warm_s / 2)
            steady = (gw.metrics.value("results", tier="cloud", reason="cloud_answer") - c0) / \
                (time.monotonic() - t0)
            cloud.kill()
            time.sleep(outage_s)
            corrections0 = gw.metrics.value("corrections")
            cloud.start()
            assert gw.cloud is not None and gw.spool is not None
            if not gw.cloud.wait_connected(60):
                raise RuntimeError("the gateway did not reconnect to the cloud broker")
            t_up = time.monotonic()  # from the link being back (not paho's reconnect backoff)
            spooled = gw.spool.depth
            while gw.spool.depth > 0 and time.monotonic() - t_up < 300:
                time.sleep(0.02)
            drain_s = time.monotonic() - t_up
            loader.join()
            sent = len(source.sent)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                answered = {r.key for _, r in sink.results() if r.revision == 0}
                if len(answered) >= sent and (gw.spool is None or gw.spool.depth == 0):
                    break
                time.sleep(0.2)
            time.sleep(2)  # late duplicates would show up here
        finally:
            stop.set()
            loader.join()
            gw.stop()
            worker.stop(timeout=10)
            sink.close()
            source.close()
        finals: dict[tuple, int] = defaultdict(int)
        cloud_answers: dict[tuple, int] = defaultdict(int)
        degraded = 0
        for _, r in sink.results():
            if r.revision == 0:
                finals[r.key] += 1
                degraded += r.degraded or r.stale
            if r.tier == "cloud":
                cloud_answers[r.key] += 1
        dups = sum(n - 1 for n in finals.values() if n > 1) + \
            sum(n - 1 for n in cloud_answers.values() if n > 1)
        return {
            "sent": sent, "answered": len(finals), "lost": sent - len(finals),
            "duplicates": dups, "degraded": degraded, "spooled": spooled,
            "corrections": gw.metrics.value("corrections") - corrections0,
            "dropped": gw.metrics.value("spool_dropped"),
            "steady": steady, "drain": spooled / drain_s if drain_s > 0 else 0.0,
            "capacity": capacity,
        }


def run(quick: bool = False, outage_s: float | None = None) -> list[Row]:
    outage = outage_s if outage_s is not None else (10.0 if quick else 60.0)
    runs = [one_run(outage, 6.0 if quick else 10.0, 5.0 if quick else 10.0, 40.0)
            for _ in range(1 if quick else 3)]
    med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
    cmd = f"{COMMAND} --outage {outage:g}"
    for r in runs:
        print({k: round(v, 2) for k, v in r.items()})
    return [
        Row(f"outage {outage:g}s: frames answered (degraded or not)", med("answered"),
            med("sent"), "frames", cmd, target="ratio = 1"),
        Row(f"outage {outage:g}s: frames lost", med("lost"), med("sent"), "frames", cmd,
            target="0"),
        Row(f"outage {outage:g}s: duplicate finals", med("duplicates"), med("sent"), "results",
            cmd, target="0"),
        Row(f"outage {outage:g}s: spool drain rate vs the worker's measured capacity "
            "(64-frame burst)", med("drain"), med("capacity"), "frames/s", cmd,
            target="ratio >= 0.5"),
        Row(f"outage {outage:g}s: steady-state cloud answer rate (the offered load) vs the "
            "worker's capacity", med("steady"), med("capacity"), "frames/s", cmd),
        Row(f"outage {outage:g}s: corrections published vs frames answered degraded",
            med("corrections"), med("degraded"), "frames", cmd, target="ratio = 1"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--outage", type=float, default=None, help="outage seconds (default 60)")
    args = parser.parse_args()
    print_rows(run(args.quick, args.outage))


if __name__ == "__main__":
    main()
