"""`edgecascade demo --runtime onnxruntime`: the live demo with both model tiers on ONNX
Runtime gives the answers the offline (LiteRT) cascade gives on the same frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecascade.tools.demo.runner import DemoOptions, run_demo

pytest.importorskip("onnxruntime")


def test_demo_on_onnxruntime_matches_the_offline_litert_cascade(tmp_path: Path) -> None:
    lines: list[str] = []
    report = run_demo(DemoOptions(devices=4, rate=10.0, duration=3.0, out=tmp_path,
                                  live=False, runtime="onnxruntime"), write=lines.append)
    assert report is not None, "\n".join(lines)
    assert report.frames_sent == 120 and report.unanswered == 0, "\n".join(lines)
    assert report.offline_cascade_accuracy is not None
    assert abs(report.accuracy - report.offline_cascade_accuracy) <= 0.003
    said = "\n".join(lines)
    assert "cloud worker:" in said and said.count("backend=onnxruntime provider=cpu") == 2
