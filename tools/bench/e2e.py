"""End-to-end benchmark: emulated devices -> gateway -> cloud worker, as in the demo.

    python -m edgecascade.tools.bench.e2e [--quick]

Figures, each against a baseline from the same run: end-to-end accuracy against the
offline cascade on the same frames (the wire must add no error), cloud cost against
sending every frame to the cloud, p95 latency of all answers against the p95 of the
frames the cloud answered (what a cloud-only design would pay), and answered frames
against frames sent.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from edgecascade.tools.bench.common import Row, print_rows
from edgecascade.tools.demo.runner import DemoOptions, run_demo

COMMAND = "python -m edgecascade.tools.bench.e2e"


def run(quick: bool = False) -> list[Row]:
    devices, rate, duration = (10, 10.0, 5.0) if quick else (50, 4.0, 15.0)
    with tempfile.TemporaryDirectory() as tmp:
        report = run_demo(
            DemoOptions(devices=devices, rate=rate, duration=duration, out=Path(tmp),
                        live=False),
            write=lambda line: None,
        )
    if report is None:
        raise RuntimeError("the end-to-end run saw no reports")
    label = f"e2e {devices} devices x {rate:g} Hz"
    rows = [
        Row(f"{label}: frames answered vs sent", report.frames_answered, report.frames_sent,
            "frames", COMMAND, "= 1"),
        Row(f"{label}: cloud cost vs every frame to the cloud", report.cloud_cost,
            report.cloud_only_cost, "billed msgs", COMMAND, "<= 0.1"),
    ]
    if report.offline_cascade_accuracy is not None:
        rows.append(Row(f"{label}: accuracy vs offline cascade (same frames)",
                        report.accuracy * 100, report.offline_cascade_accuracy * 100, "%",
                        COMMAND, ">= 0.997"))
    cloud = report.tiers.get("cloud")
    if cloud is not None:
        rows.append(Row(f"{label}: p95 latency all answers vs cloud-answered frames",
                        report.latency_p95_ms, cloud.p95_ms, "ms", COMMAND, "< 1"))
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
