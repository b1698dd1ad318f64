"""One row set per workload (MNIST digits, HAR motion windows): the same system, unchanged.

    python -m edgecascade.tools.bench.workloads [--quick]

For each bundled workload, two kinds of figure, each against a baseline of its own run:

* live, through the real system (emulated devices -> mosquitto -> gateway -> worker, as in
  ``edgecascade demo --workload NAME``): accuracy against the offline cascade on the same
  frames, and the share of frames the cloud answered against the 10% ceiling;
* offline, on the workload's held-out test split (``evaluation.json``, written by
  ``edgecascade models evaluate`` / ``import``): cascade accuracy against cloud-only
  (target: within 0.3 points) and the cascade's cloud share (target: at most 10%).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from edgecascade.models.workload import get_workload
from edgecascade.tools.bench.common import Row, print_rows
from edgecascade.tools.demo.runner import DemoOptions, run_demo

COMMAND = "python -m edgecascade.tools.bench.workloads"
WORKLOADS = ("mnist", "har")
MAX_CLOUD_SHARE = 0.10


def offline_rows(name: str) -> list[Row]:
    wl = get_workload(name)
    doc = json.loads(wl.evaluation_path.read_text())
    cascade, cloud = doc["cascade"], doc["tiers"]["cloud"]
    label = f"{name} offline test split ({doc['frames']} frames)"
    return [
        Row(f"{label}: cascade accuracy vs cloud-only", cascade["accuracy"] * 100,
            cloud["accuracy"] * 100, "%", COMMAND, "value - baseline >= -0.3 points"),
        Row(f"{label}: share of frames to the cloud vs the 10% ceiling",
            cascade["cloud_share"], MAX_CLOUD_SHARE, "share", COMMAND, "ratio <= 1"),
        Row(f"{label}: share of frames leaving the device vs all", cascade["leave_device_share"],
            1.0, "share", COMMAND, ""),
    ]


def live_rows(name: str, quick: bool) -> list[Row]:
    devices, rate, duration = (5, 5.0, 6.0) if quick else (10, 5.0, 20.0)
    with tempfile.TemporaryDirectory() as tmp:
        report = run_demo(DemoOptions(devices=devices, rate=rate, duration=duration,
                                      out=Path(tmp), live=False, workload=name),
                          write=lambda line: None)
    if report is None:
        raise RuntimeError(f"the {name} run saw no reports")
    label = f"{name} live, {devices} devices x {rate:g} Hz"
    rows = [Row(f"{label}: frames answered vs sent", report.frames_answered,
                report.frames_sent, "frames", COMMAND, "= 1")]
    if report.offline_cascade_accuracy is not None:
        rows.append(Row(f"{label}: accuracy vs offline cascade (same frames)",
                        report.accuracy * 100, report.offline_cascade_accuracy * 100, "%",
                        COMMAND, ">= 0.997"))
    cloud = report.tiers.get("cloud")
    rows.append(Row(f"{label}: share of frames the cloud answered vs the 10% ceiling",
                    cloud.share if cloud is not None else 0.0, MAX_CLOUD_SHARE, "share",
                    COMMAND, "ratio <= 1"))
    return rows


def run(quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    for name in WORKLOADS:
        rows += offline_rows(name)
        rows += live_rows(name, quick)
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
