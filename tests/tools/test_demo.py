"""`edgecascade demo` end to end: real brokers, worker, gateway and emulated devices."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edgecascade.tools.demo.runner import DemoOptions, run_demo


def test_short_demo_answers_every_frame_once_and_matches_the_offline_cascade(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    report = run_demo(
        DemoOptions(devices=4, rate=10.0, duration=3.0, out=tmp_path, live=False, outage=1.0),
        write=lines.append,
    )
    assert report is not None, "\n".join(lines)
    assert report.frames_sent == 120
    assert report.unanswered == 0 and report.duplicate_finals == 0, "\n".join(lines)
    assert report.offline_cascade_accuracy is not None
    # The wire adds no error: the same frames, the same answers as the offline cascade.
    assert abs(report.accuracy - report.offline_cascade_accuracy) <= 0.003
    assert report.outage is not None and report.outage.answered == report.outage.frames_sent
    assert sum(t.frames for t in report.tiers.values()) == 120
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["frames_sent"] == 120
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") == 3  # timeline, latency CDF, trade-off
    assert "cloud outage" in page and "edgecascade version" in page  # shaded, parameters
    assert any("dashboard:" in line and "JSON view" in line for line in lines)
    assert any("mosquitto" in line for line in lines)


def test_demo_on_the_embedded_broker(tmp_path: Path) -> None:
    lines: list[str] = []
    report = run_demo(
        DemoOptions(devices=2, rate=10.0, duration=2.0, out=tmp_path, live=False,
                    embedded=True),
        write=lines.append,
    )
    assert report is not None
    assert any("embedded amqtt" in line for line in lines)
    assert report.unanswered == 0 and report.duplicate_finals == 0


def test_ctrl_c_stops_cleanly_and_still_reports(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecascade.cli", "demo", "--no-live", "--duration", "60",
         "--devices", "2", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        seen.append(line)
        if "answered" in line and "sent" in line and " 0/" not in line:
            break
        assert time.monotonic() < deadline, "".join(seen)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130
    text = "".join(seen) + out
    assert "interrupted" in text and "edgecascade demo report" in text, text
    assert (tmp_path / "report.json").exists()
