"""Audit sampling (issue 22): the C core and its Python twins pick the same reports.

``ec_audit_pick`` vs :func:`edgecascade.protocol.audit.audit_pick`, and the retained
``DeviceConfig.audit_share`` field decoded and applied by ``ec_config_decode`` +
``ec_session_apply_config`` + ``ec_policy_audit`` vs ``DeviceCore.apply_config`` +
:func:`edgecascade.emulator.policy.audit_reason`, on random documents.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import pytest

from edgecascade.emulator.core import DeviceCore
from edgecascade.emulator.policy import audit_reason
from edgecascade.models.cascade import Thresholds
from edgecascade.protocol import DeviceConfig, ProtocolError, Reason, decode, encode
from edgecascade.protocol.audit import audit_pick, share_to_wire

from .cbuild import run_parity

pytestmark = pytest.mark.usefixtures("parity_tool")

C_REASONS = {0: None, 1: Reason.LOW_CONFIDENCE, 3: Reason.COMPLEX_INPUT}


IDS = ["dev-1", "esp32-a1b2c3d4e5f6", "x", "", "demo-0000", "Z" * 64, "cam_09"]


def test_audit_pick_parity_and_rate() -> None:
    rng = np.random.default_rng(22)
    cases = [(str(rng.choice(IDS)), int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32)),
              int(rng.choice([0, 1, 655, 6554, 32768, 65535, int(rng.integers(0, 65536))])))
             for _ in range(3000)]
    cases += [("d", 0, s, 655) for s in range(200)] + [("d", 2**32 - 1, 2**32 - 1, 65535)]
    got = run_parity([f"audit {d or '-'} {e} {s} {sh}" for d, e, s, sh in cases])
    want = [str(int(audit_pick(d, e, s, sh))) for d, e, s, sh in cases]
    assert got == want
    # a device's consecutive reports: the picked share is the configured one
    picked = [audit_pick("d7", 7, s, share_to_wire(0.01)) for s in range(100_000)]
    assert 0.009 < np.mean(picked) < 0.011
    assert not any(audit_pick("d7", 7, s, 0) for s in range(10_000))
    # devices sharing an epoch audit different reports (a fleet is never all-or-nothing)
    fleet = [[audit_pick(f"demo-{i:04d}", 1, s, share_to_wire(0.01)) for s in range(100)]
             for i in range(50)]
    assert len({tuple(f) for f in fleet}) > 20


def _doc(rng: np.random.Generator) -> bytes:
    doc: dict[Any, Any] = {0: 1, 1: int(rng.choice([0, 1, 5])), 2: 0.9, 3: 0.25, 4: 0.3}
    if rng.random() < 0.5:
        doc[5] = int(rng.choice([0, 3, 2**32 - 1]))
    if rng.random() < 0.85:
        doc[6] = rng.choice(np.array([0, 1, 655, 65535, 65536, -1, 2**40, 0.5, "x", None,
                                      True, [1]], dtype=object))
        if isinstance(doc[6], np.integer):
            doc[6] = int(doc[6])
    return msgpack.packb(doc, use_bin_type=True)


def _python(data: bytes, reason_code: int, device_id: str = "dev-1") -> str:
    try:
        cfg = decode(DeviceConfig, data)
    except ProtocolError:
        return "err"
    core = DeviceCore(device_id, None, 0, Thresholds())  # type: ignore[arg-type]  # no frames
    core.apply_config(cfg)
    reason = audit_reason(C_REASONS[reason_code], device_id, core.epoch, core.seq,
                          core.audit_share)
    return f"ok {core.audit_share} {(reason or Reason.CONFIDENT).value} {int(reason is not None)}"


def test_config_audit_share_parity() -> None:
    rng = np.random.default_rng(23)
    cases = [(_doc(rng), int(rng.choice(list(C_REASONS)))) for _ in range(1200)]
    # every share on seq 0 of epochs that pick or do not pick it
    cases += [(encode(DeviceConfig(2, 0.9, 0.25, 0.3, epoch=e, audit_share=sh)), 0)
              for e in range(40) for sh in (0, 20000, 65535)]
    want = [_python(d, r) for d, r in cases]
    got = ["err" if g.startswith("err") else g for g in
           run_parity([f"config_audit {d.hex()} {r} dev-1" for d, r in cases])]
    assert got == want
    assert sum(w.endswith("audit 1") for w in want) > 20  # the audit path is exercised
    assert sum(w == "err" for w in want) > 100  # and the rejections


def test_emulated_device_attaches_audited_frames_only_when_confident() -> None:
    from edgecascade.emulator.core import build_report
    from edgecascade.emulator.model import FrameAnswer
    from edgecascade.protocol import Frame

    frame = Frame(b"\x00" * 4, (2, 2))
    sure = FrameAnswer(0, 3, (3, 1), (64000, 1000), 0.01, frame)
    unsure = FrameAnswer(0, 3, (3, 1), (30000, 20000), 0.01, frame)
    th = Thresholds(0.9, 0.0, 1.0)
    share = share_to_wire(0.05)
    audited = [s for s in range(2000) if audit_pick("dev", 4, s, share)]
    assert audited
    for s in range(2000):
        m = build_report("dev", 4, s, 0, sure, "m", 1, th, share)
        assert (m.reason is Reason.AUDIT) == (s in audited)
        assert m.attached == (s in audited)
        assert m.report.classes[0] == 3  # the device's answer is unchanged
        u = build_report("dev", 4, s, 0, unsure, "m", 1, th, share)
        assert u.reason is Reason.LOW_CONFIDENCE
