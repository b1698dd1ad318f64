"""``models calibrate --from-audit``: thresholds refitted on a gateway's audit sample (real
emulator frames and reports of the shipped MNIST tiers, the real audit store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgecascade.emulator.core import build_report
from edgecascade.emulator.model import FrameSource
from edgecascade.gateway.audit_store import FILE, AuditStore
from edgecascade.models.cascade import Thresholds, load_settings
from edgecascade.protocol.audit import share_to_wire


def _sample(state: Path, n: int, share: float = 1.0) -> int:
    src = FrameSource()
    store = AuditStore(state / FILE, keep=n)
    wire = share_to_wire(share)
    kept = 0
    for seq in range(n):
        m = build_report("cam1", 7, seq, 0, src.answer(seq * 7), src.model_id,
                         src.model_version, Thresholds(1.0, 0.0, 10.0), wire)  # frames on all
        kept += store.add(m.report, wire)
    assert len(store) == kept
    store.close()
    return kept


def test_from_audit_proposes_thresholds_and_shows_before_after(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgecascade.cli import main

    assert _sample(tmp_path, 400) == 400
    out = tmp_path / "proposed.json"
    assert main(["models", "calibrate", "--from-audit", str(tmp_path), "--out", str(out),
                 "--max-cloud-share", "0.05"]) == 0
    printed = capsys.readouterr().out
    assert "audit sample: 400 frames from 1 device(s)" in printed
    assert "before" in printed and "after" in printed
    doc = json.loads(out.read_text())
    fa = doc["from_audit"]
    assert fa["labels"] == "the cloud model's answers" and fa["audit_shares"] == [65535]
    assert fa["after"]["cloud_share"] <= 0.05 + 1e-9
    # the proposal is a thresholds file like any other (models deploy --thresholds FILE)
    s = load_settings(out)
    assert s.thresholds.device_confidence == doc["thresholds"]["device_conf"]
    assert doc["monitoring"]["frames"] == 400


def test_from_audit_refuses_a_missing_or_small_sample(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgecascade.cli import main

    assert main(["models", "calibrate", "--from-audit", str(tmp_path / "none")]) == 2
    assert "no audit sample here" in capsys.readouterr().out
    _sample(tmp_path, 10)
    assert main(["models", "calibrate", "--from-audit", str(tmp_path)]) == 2
    assert "need at least 50" in capsys.readouterr().out
