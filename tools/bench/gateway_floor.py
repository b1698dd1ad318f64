"""The gateway's own per-report work with no network: the floor under its CPU per answer.

    python -m edgecascade.tools.bench.gateway_floor

What a device-tier answer needs however the gateway is built, run in this process on the
benchmark's own confident reports: decode and validate the report (its msgpack map, every
field), build its Result and encode it, and admit it in a real SQLite ledger, group
committed 16 at a time (BEGIN, INSERT, UPDATE, COMMIT). No MQTT, no policy, metrics or
dashboards. Added to a bare relay's CPU per answer (which pays the MQTT side), it gives the
best CPU-per-answer ratio a gateway written this way could reach:
``1 + floor / relay``. ``gateway_throughput`` reports that ceiling next to its rows, for
the burst (this floor) and for paced 1,000/s (the paced floor: one report per
transaction, 1 ms apart, where the same instructions meet cold caches).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from edgecascade.gateway.answers import device_answer, make_result
from edgecascade.gateway.ledger import Admission, Ledger
from edgecascade.protocol import Reason, Report, decode, encode
from edgecascade.tools.bench.common import Row, bench_main
from edgecascade.tools.bench.gateway_harness import make_reports

COMMAND = "python -m edgecascade.tools.bench.gateway_floor"
BATCH = 16


def floor_us(n: int = 20_000, repeats: int = 3, *, batch: int = BATCH,
             gap_s: float = 0.0) -> float:
    """Median over ``repeats`` of the per-report busy time (us) of the work described
    above, ``batch`` reports per transaction; ``gap_s`` > 0 sleeps that long between
    batches (a paced load: the same work on cold caches, as each report meets it)."""
    payloads = [encode(r) for r in make_reports(n, confident=True)]
    samples = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            ledger = Ledger(Path(tmp) / "ledger.sqlite")
            busy = 0.0
            for i in range(0, n, batch):
                if gap_s:
                    time.sleep(gap_s)
                start = time.perf_counter()
                items = []
                for data in payloads[i:i + batch]:
                    report = decode(Report, data)

                    def build(report: Report = report) -> bytes:
                        return encode(make_result(report.key, device_answer(report, 0),
                                                  reason=Reason.CONFIDENT, gateway_id="gw",
                                                  now_ms=int(time.time() * 1000),
                                                  latency_ms=0.5))
                    items.append(Admission(report.key, 0, result=build))
                ledger.admit_batch(items)
                busy += time.perf_counter() - start
            samples.append(busy / n * 1e6)
            ledger.close()
    samples.sort()
    return samples[len(samples) // 2]


def run(quick: bool = False) -> list[Row]:
    n = 5_000 if quick else 20_000
    floor = floor_us(n)
    return [
        Row(f"gateway floor: decode + Result build/encode + ledger admit ({BATCH} per "
            "transaction), in process, vs decode alone", floor, _decode_us(n), "us/report",
            COMMAND),
        Row("gateway floor paced: one report per transaction, 1 ms apart (as at 1,000/s) vs "
            f"back to back, {BATCH} per transaction (the same work on cold caches)",
            paced_floor_us(n // 4), floor, "us/report", COMMAND),
    ]


def paced_floor_us(n: int) -> float:
    """The floor as a paced 1,000/s load meets it: each report alone, 1 ms apart."""
    return floor_us(n, batch=1, gap_s=0.001)


def _decode_us(n: int) -> float:
    payloads = [encode(r) for r in make_reports(n, confident=True)]
    start = time.perf_counter()
    for data in payloads:
        decode(Report, data)
    return (time.perf_counter() - start) / n * 1e6


if __name__ == "__main__":
    bench_main(run, __doc__)
