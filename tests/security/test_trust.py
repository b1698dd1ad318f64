"""gateway/trust.py directly: allowlist, per-device token bucket, seq-ahead, quiet logs."""

from __future__ import annotations

from edgecascade.gateway.trust import (
    RATE_LIMITED,
    SEQ_AHEAD,
    UNKNOWN_BIRTH,
    UNKNOWN_DEVICE,
    Trust,
    TrustSettings,
    site_devices,
)
from tests.gateway.support import report


def test_allowlist_refuses_invented_ids_without_remembering_them() -> None:
    trust = Trust(TrustSettings(allowlist=frozenset({"d1"})))
    for i in range(600):
        r = trust.admit_topic(f"invented-{i}", 0.0)
        assert r is not None and r.reason == UNKNOWN_DEVICE
    b = trust.admit_topic("invented-x", 0.0, birth=True)
    assert b is not None and b.reason == UNKNOWN_BIRTH
    assert trust.admit_topic("d1", 0.0) is None
    assert trust.tracked == 1 and trust.refused == {UNKNOWN_DEVICE: 600, UNKNOWN_BIRTH: 1}


def test_revoking_forgets_the_device() -> None:
    trust = Trust(TrustSettings(allowlist=frozenset({"d1", "d2"})))
    assert trust.admit_topic("d2", 0.0) is None
    trust.set_allowlist(frozenset({"d1"}))
    assert trust.tracked == 0
    assert trust.admit_topic("d2", 1.0) is not None


def test_token_bucket_drops_only_the_flooder() -> None:
    trust = Trust(TrustSettings(rate_per_s=5.0, burst=10.0))
    flood = [trust.admit_topic("loud", i * 0.004) for i in range(250)]  # 250/s for 1 s
    polite = [trust.admit_topic(f"quiet{d}", i * 0.2) for i in range(5) for d in range(20)]
    admitted = sum(r is None for r in flood)
    assert 10 + 4 <= admitted <= 10 + 6  # the burst, then 5/s
    assert all(r.reason == RATE_LIMITED for r in flood if r is not None)
    assert all(r is None for r in polite)


def test_far_future_seqs_are_refused_but_a_real_gap_is_not() -> None:
    trust = Trust(TrustSettings(rate_per_s=5.0, max_seq_ahead=100))
    assert trust.admit_report(report("d1", 10, confident=True), 0.0) is None
    forged = [trust.admit_report(report("d1", 1_000_000 + k, confident=True), 1.0)
              for k in range(30)]
    assert all(r is not None and r.reason == SEQ_AHEAD for r in forged)
    assert trust.admit_report(report("d1", 11, confident=True), 1.0) is None
    assert trust.admit_report(report("d1", 111, confident=True), 1.0) is None  # in the window
    # an hour offline at 5/s: 18,000 captures counted, most dropped from the ring
    assert trust.admit_report(report("d1", 111 + 18_000, confident=True), 3601.0) is None
    # a new epoch anchors afresh; the old epoch's stragglers are not refused
    assert trust.admit_report(report("d1", 0, confident=True, epoch=2), 3602.0) is None
    assert trust.admit_report(report("d1", 5, confident=True, epoch=1), 3602.0) is None


def test_rejection_logs_are_rate_limited_with_counts() -> None:
    trust = Trust(TrustSettings(allowlist=frozenset(), log_every_s=10.0))
    lines = []
    for i in range(2455):
        now = i * (20.0 / 2455)  # the 2,455 rejections in 20 s
        refusal = trust.admit_topic(f"x{i}", now)
        assert refusal is not None
        line = trust.log_line(refusal, now)
        if line is not None:
            lines.append(line)
    assert len(lines) == 2
    assert lines[0].extra["suppressed"] == 0 and lines[1].extra["suppressed"] > 1000
    assert trust.refused[UNKNOWN_DEVICE] == 2455


def test_site_devices_reads_the_registry(site_folder) -> None:
    assert site_devices(site_folder.folder) == frozenset({"devA", "devB"})
    site_folder.revoke("devB")
    assert site_devices(site_folder.folder) == frozenset({"devA"})
