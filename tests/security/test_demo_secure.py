"""``edgecascade demo --secure``: the whole system on the shipped secure configs."""

from __future__ import annotations

from pathlib import Path

from edgecascade.tools.demo.runner import DemoOptions, run_demo


def test_secure_demo_answers_every_frame_once(tmp_path: Path) -> None:
    lines: list[str] = []
    report = run_demo(DemoOptions(devices=3, rate=10.0, duration=2.0, out=tmp_path, live=False,
                                  secure=True), write=lines.append)
    assert report is not None, "\n".join(lines)
    assert any("shipped secure config" in line for line in lines)
    assert all("mqtts://" in line for line in lines if line.startswith(("site broker",
                                                                         "cloud broker")))
    assert report.frames_sent == 60
    assert report.unanswered == 0 and report.duplicate_finals == 0, "\n".join(lines)
    assert report.offline_cascade_accuracy is not None
    assert abs(report.accuracy - report.offline_cascade_accuracy) <= 0.003
