"""Gateway device-tier throughput and added latency, against a bare paho relay.

    python -m edgecascade.tools.bench.gateway_throughput [--quick]

Baseline: a paho client that subscribes to the reports and republishes each payload to a
result topic (QoS 1 both ways), through the same mosquitto. Gateway: the real
:class:`Gateway` (dedupe ledger and outbox in SQLite, manual acks, policy, Result
encoding) answering confident device reports at the device tier. Throughput is reports
answered per second for a burst; latency is publish -> result arrival at half of the
gateway's maximum rate, both measured in this run. Median of several runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from edgecascade.protocol import ProtocolError, Report, Result, TopicKind, Topics, decode
from edgecascade.tools.bench import gateway_harness as h
from edgecascade.tools.bench.common import Row, percentile, print_rows

COMMAND = "python -m edgecascade.tools.bench.gateway_throughput"


def _key(payload: bytes) -> tuple[str, int, int]:
    try:
        return decode(Result, payload).key
    except ProtocolError:
        return decode(Report, payload).key


def _topics() -> Topics:
    return Topics(f"b{uuid.uuid4().hex[:8]}/v1")


def _measure(b: h.MosquittoBroker, kind: str, n: int, rate: float | None,
             tmp: Path) -> tuple[float, list[float], list[float]]:
    """(answers/s, e2e latencies ms, gateway-internal latencies ms) for one phase.

    The gateway and the relay each run in their own process (as in production), so
    the load generator and the result sink here do not share their interpreter.
    """
    topics = _topics()
    sink = h.Sink(b, topics.filter(TopicKind.RESULT))
    proc: subprocess.Popen[Any]
    if kind == "relay":
        proc = h.spawn_relay(b, topics)
    else:
        proc = h.spawn_gateway(h.gateway_toml(tmp, b.url, topics), b, topics)
    source = h.Source(b, topics)
    try:
        reports = h.make_reports(n, confident=True, tag=1)
        source.send(reports, rate)
        if not sink.wait(n, 120):
            raise RuntimeError(f"{kind}: {len(sink.arrivals)} of {n} answers")
        first = min(source.sent.values())
        last = max(t for t, _ in sink.arrivals)
        e2e = [(t - source.sent[_key(p)]) * 1000 for t, p in sink.arrivals]
        internal = [decode(Result, p).latency_ms for _, p in sink.arrivals] \
            if kind == "gateway" else []
        return n / (last - first), e2e, internal
    finally:
        source.close()
        h.stop_process(proc)
        sink.close()


def run(quick: bool = False) -> list[Row]:
    n = 1500 if quick else 4000
    runs = 1 if quick else 3
    lat_seconds = 3 if quick else 8
    relay_tput, gw_tput, relay_p99, gw_p99, gw_internal_p99 = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmpdir, h.broker() as b:
        tmp = Path(tmpdir)
        _measure(b, "gateway", 200, None, tmp)  # warm up (imports, SQLite, broker)
        for _ in range(runs):
            relay_tput.append(_measure(b, "relay", n, None, tmp)[0])
            gw_tput.append(_measure(b, "gateway", n, None, tmp)[0])
        half = statistics.median(gw_tput) / 2
        m = int(half * lat_seconds)
        for _ in range(runs):
            _, e2e, _ = _measure(b, "relay", m, half, tmp)
            relay_p99.append(percentile(e2e, 99))
            _, e2e, internal = _measure(b, "gateway", m, half, tmp)
            gw_p99.append(percentile(e2e, 99))
            gw_internal_p99.append(percentile(internal, 99))
    med = statistics.median
    return [
        Row("gateway device-tier throughput", med(gw_tput), med(relay_tput), "answers/s",
            COMMAND, target="ratio >= 0.5"),
        Row(f"gateway e2e latency p99 at half load ({half:.0f}/s)", med(gw_p99), med(relay_p99),
            "ms", COMMAND, target="value - baseline <= 2 ms"),
        Row("gateway internal latency p99 (receipt->publish) vs relay e2e p99",
            med(gw_internal_p99), med(relay_p99), "ms", COMMAND, target="value <= 2 ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    start = time.monotonic()
    rows = run(args.quick)
    print_rows(rows)
    added = rows[1].value - rows[1].baseline
    print(f"added e2e latency p99: {added:.3f} ms; took {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
