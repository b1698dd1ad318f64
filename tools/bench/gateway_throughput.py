"""Gateway device tier against a bare relay and the broker's own ceiling, paced and burst.

    python -m edgecascade.tools.bench.gateway_throughput [--quick]

Everything runs in its own process, as in production, on one mosquitto:

* the load generator (``loadgen.spawn_source``): pre-encoded confident reports, QoS 1,
  paced at 1,000/s, 2,500/s, or as a burst; its own ceiling is a row (the same
  generator publishing to no subscriber: no relay at all);
* the broker's ceiling with the C clients (``mosquitto_pub -l`` into ``mosquitto_sub``):
  the physical reference for every other figure;
* baseline: a bare paho relay process that republishes each report as a result (QoS 1);
* the real gateway process (dedupe ledger and outbox in SQLite, manual acks, policy,
  Result encoding), answering at the device tier; its receipt -> PUBACK time is taken
  from paho's own receive stamp and the manual ack (``loadgen.instrumented_gateway``), so
  it includes COMMIT, the result publish and the ack, however the gateway does them;
* the result sink: this process;
* the floor (``gateway_floor``): the gateway's own per-report work in process, no MQTT;
  relay + floor is the best CPU per answer a gateway doing that work can reach.

CPU per answer is the process's user + system CPU (``/proc``) over the phase divided by
the answers: it does not depend on what else the shared machine runs. Latency rows are
paced at half the relay's burst capacity measured in the same run. Medians of several
runs; a re-run after a gateway change (group commit) measures it with the same rows.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecascade.protocol import ProtocolError, Report, Result, TopicKind, Topics, decode
from edgecascade.tools.bench import gateway_floor, loadgen
from edgecascade.tools.bench import gateway_harness as h
from edgecascade.tools.bench.common import Row, bench_main, cpu_seconds, percentile

COMMAND = "python -m edgecascade.tools.bench.gateway_throughput"
PACED = (1000.0, 2500.0)


@dataclass(frozen=True)
class Phase:
    answers_per_s: float
    cpu_us_per_answer: float
    e2e_ms: list[float]
    internal_ms: list[float]  # gateway only: receipt -> PUBACK


def _seq(payload: bytes) -> int:
    try:
        return decode(Result, payload).key[2]
    except ProtocolError:
        return decode(Report, payload).key[2]


def phase(b: h.MosquittoBroker, kind: str, n: int, rate: float | None, tmp: Path) -> Phase:
    topics = Topics(f"b{uuid.uuid4().hex[:8]}/v1")
    sink = h.Sink(b, topics.filter(TopicKind.RESULT))
    stats = tmp / f"stats-{uuid.uuid4().hex[:6]}.json"
    proc: subprocess.Popen[Any]
    if kind == "relay":
        proc = h.spawn_relay(b, topics)
    else:
        proc = h.spawn_gateway(h.gateway_toml(tmp, b.url, topics), b, topics, stats=stats)
    out = tmp / f"src-{uuid.uuid4().hex[:6]}.json"
    try:
        cpu0 = cpu_seconds(proc.pid)
        src = loadgen.spawn_source(b, topics, n, rate, out)
        sent = loadgen.source_result(src, out, 300)["sent"]
        if not sink.wait(n, 120):
            raise RuntimeError(f"{kind}: {len(sink.arrivals)} of {n} answers")
        cpu = cpu_seconds(proc.pid) - cpu0
        last = max(t for t, _ in sink.arrivals)
        e2e = [(t - sent[_seq(p)]) * 1000 for t, p in sink.arrivals]
    finally:
        h.stop_process(proc)
        sink.close()
    internal = json.loads(stats.read_text()) if kind == "gateway" else []
    return Phase(n / (last - min(sent)), cpu / n * 1e6, e2e, internal)


def run(quick: bool = False) -> list[Row]:
    seconds, burst, runs = (1.5, 2000, 1) if quick else (4.0, 6000, 3)
    med = statistics.median
    cpu: dict[tuple[str, str], list[float]] = {}
    internal: dict[str, list[float]] = {}
    tput: dict[str, list[float]] = {"relay": [], "gateway": []}
    with tempfile.TemporaryDirectory() as tmpdir, h.broker() as b:
        tmp = Path(tmpdir)
        ceiling = med(loadgen.broker_ceiling(b, burst * 2) for _ in range(runs))
        nobody = Topics(f"n{uuid.uuid4().hex[:8]}/v1")
        gen = []
        for _ in range(runs):
            out = tmp / f"gen-{uuid.uuid4().hex[:6]}.json"
            gen.append(loadgen.source_result(loadgen.spawn_source(b, nobody, burst, None, out),
                                             out, 300)["rate"])
        phase(b, "gateway", 200, None, tmp)  # warm up (imports, SQLite, page cache)
        for _ in range(runs):
            for rate in (*PACED, None):
                label = f"{rate:.0f}/s" if rate else "burst"
                n = int(rate * seconds) if rate else burst
                for kind in ("relay", "gateway"):
                    ph = phase(b, kind, n, rate, tmp)
                    cpu.setdefault((kind, label), []).append(ph.cpu_us_per_answer)
                    if kind == "gateway" and rate:
                        internal.setdefault(label, []).append(percentile(ph.internal_ms, 99))
                    if rate is None:
                        tput[kind].append(ph.answers_per_s)
        floor = gateway_floor.floor_us(5_000 if quick else 20_000)
        paced_floor = gateway_floor.paced_floor_us(1_000 if quick else 4_000)
        half = med(tput["relay"]) / 2
        m = int(half * seconds)
        relay_p99, gw_p99, gw_internal = [], [], []
        for _ in range(runs):
            relay_p99.append(percentile(phase(b, "relay", m, half, tmp).e2e_ms, 99))
            ph = phase(b, "gateway", m, half, tmp)
            gw_p99.append(percentile(ph.e2e_ms, 99))
            gw_internal.append(percentile(ph.internal_ms, 99))
    rows = [
        Row("broker ceiling: C clients through mosquitto (mosquitto_pub -l -> mosquitto_sub, "
            "QoS 1) vs the Python load generator alone", ceiling, med(gen), "msgs/s", COMMAND),
        Row("load generator alone (its own process, publishing to no subscriber: no relay) "
            "vs the relay's burst throughput", med(gen), med(tput["relay"]), "msgs/s", COMMAND,
            target="ratio > 1 (not the bottleneck)"),
    ]
    for label in (*(f"{r:.0f}/s" for r in PACED), "burst"):
        rows.append(Row(f"gateway CPU per answer, {'paced ' if label != 'burst' else ''}"
                        f"{label} vs bare relay", med(cpu[("gateway", label)]),
                        med(cpu[("relay", label)]), "us", COMMAND, target="ratio <= 1.5"))
    for label in (f"{r:.0f}/s" for r in PACED):
        rows.append(Row(f"gateway internal latency p99, receipt -> PUBACK, paced {label} vs "
                        "the 2 ms target", med(internal[label]), 2.0, "ms", COMMAND))
    relay_burst = med(cpu[("relay", "burst")])
    rows.append(Row("ceiling for the CPU rows: bare relay's burst CPU per answer + the "
                    "gateway's own per-report floor (gateway_floor: decode, Result, ledger; no "
                    "MQTT, policy or metrics), vs the relay", relay_burst + floor, relay_burst,
                    "us", COMMAND, target="the best ratio this design reaches"))
    relay_1k = med(cpu[("relay", f"{PACED[0]:.0f}/s")])
    rows.append(Row(f"ceiling for the paced {PACED[0]:.0f}/s CPU row: the relay's CPU per answer "
                    "there + the paced floor (one report per transaction, 1 ms apart), vs the "
                    "relay", relay_1k + paced_floor, relay_1k, "us", COMMAND,
                    target="the best ratio this design reaches"))
    rows += [
        Row("gateway device-tier throughput, burst, vs bare relay", med(tput["gateway"]),
            med(tput["relay"]), "answers/s", COMMAND, target="ratio >= 0.5"),
        Row(f"gateway e2e latency p99 paced at half the relay's capacity ({half:.0f}/s) vs "
            "relay", med(gw_p99), med(relay_p99), "ms", COMMAND,
            target="value - baseline <= 2 ms"),
        Row(f"gateway internal latency p99, receipt -> PUBACK (after COMMIT and publish), "
            f"{half:.0f}/s, vs relay e2e p99", med(gw_internal), med(relay_p99), "ms", COMMAND,
            target="value <= 2 ms"),
    ]
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__)
