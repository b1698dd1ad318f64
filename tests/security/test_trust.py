"""gateway/trust.py directly: allowlist, sequence credit, replay bucket, quiet logs."""

from __future__ import annotations

from dataclasses import replace

from edgecascade.gateway.trust import (
    RATE_LIMITED,
    SEQ_AHEAD,
    UNKNOWN_BIRTH,
    UNKNOWN_DEVICE,
    Trust,
    TrustSettings,
    site_devices,
)
from edgecascade.protocol import Report
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


def _at(device: str, seq: int, ts_ms: int, epoch: int = 1) -> Report:
    return replace(report(device, seq, confident=True, epoch=epoch), ts_ms=ts_ms)


T0 = 1_700_000_000_000  # a device clock (ms) in step with the gateway's wall clock below


def test_sequence_credit_drops_only_the_flooder() -> None:
    trust = Trust(TrustSettings(rate_per_s=5.0, max_seq_ahead=10))
    # 250 new frames/s for 1 s, all stamped at once (the device clock does not vouch)
    flood = [trust.admit_report(_at("loud", s, T0), s * 0.004, T0 + s * 4)
             for s in range(250)]
    polite = [trust.admit_report(_at(f"quiet{d}", s, T0 + s * 200), s * 0.2, T0 + s * 200)
              for s in range(5) for d in range(20)]
    # the anchor and the credit; after that its counter runs ahead of any credit
    assert [s for s, r in enumerate(flood) if r is None] == list(range(11))
    assert all(r.reason == RATE_LIMITED for r in flood if r is not None)
    # it is admitted again once the time passed pays for the seqs it ran ahead
    assert trust.admit_report(_at("loud", 250, T0), 1.0 + 240 / 5.0 - 1, T0) is not None
    assert trust.admit_report(_at("loud", 251, T0), 1.0 + 241 / 5.0 + 1, T0) is None
    assert all(r is None for r in polite)


def test_a_backlog_at_the_devices_own_rate_is_admitted_in_full() -> None:
    """20 devices at 5/s, the gateway away 60 s: the broker hands over 300 queued reports
    per device in a fraction of a second; their own clocks say 5/s, so none is refused."""
    for fresh in (True, False):  # a restarted gateway, or one whose site link came back
        trust = Trust(TrustSettings())
        wall = T0 + 61_000
        if not fresh:
            for d in range(20):
                assert trust.admit_report(_at(f"d{d}", 0, T0), 0.0, T0) is None
        out = [trust.admit_report(_at(f"d{d}", s, T0 + s * 200), 61.0 + s * 0.0005,
                                  wall + s // 2)
               for s in range(1, 301) for d in range(20)]
        assert all(r is None for r in out), next(r for r in out if r is not None)


def test_a_forger_stepping_the_seq_is_refused_past_the_time_bound() -> None:
    """The issue's attack: 100 forged reports stepping +250 in about a second."""
    trust = Trust(TrustSettings())
    for s in range(105):  # the real device, 5/s
        assert trust.admit_report(_at("d1", s, T0 + s * 200), s * 0.2, T0 + s * 200) is None
    start = 105 * 0.2
    forged = [trust.admit_report(_at("d1", 104 + 250 * k, T0 + 21_000 + k * 10),
                                 start + k * 0.01, T0 + 21_000 + k * 10) for k in range(1, 101)]
    admitted = [k for k, r in enumerate(forged, 1) if r is None]
    assert len(admitted) <= 2  # the credit (256) holds one step, a second at most
    assert all(r.reason == RATE_LIMITED for r in forged if r is not None)  # a stream
    assert trust.refused[RATE_LIMITED] >= 98
    # a far jump with a clock stamped in the future is bounded by the gateway's clock
    future = _at("d1", 10_000_000, T0 + 10**9)
    assert trust.admit_report(future, start + 1.5, T0 + 22_500) is not None
    # the real device carries on (its frames are still its own, at its rate)
    highest = 104 + 250 * max(admitted, default=0)
    for s in range(highest + 1, highest + 20):
        t = (s - highest) * 0.2
        assert trust.admit_report(_at("d1", s, T0 + 23_000 + int(t * 1000)), start + 2 + t,
                                  T0 + 23_000 + int(t * 1000)) is None


def test_a_forged_next_epoch_does_not_lift_the_rule_for_the_current_one() -> None:
    trust = Trust(TrustSettings())
    for s in range(10):
        assert trust.admit_report(_at("d1", s, T0 + s * 200), s * 0.2, T0 + s * 200) is None
    assert trust.admit_report(_at("d1", 0, T0 + 2000, epoch=2), 2.0, T0 + 2000) is None
    far = trust.admit_report(_at("d1", 1_000_000, T0 + 2000), 2.0, T0 + 2000)
    assert far is not None and far.reason == SEQ_AHEAD


def test_old_seqs_again_are_bounded_by_the_replay_bucket() -> None:
    trust = Trust(TrustSettings(rate_per_s=5.0, burst=20.0))
    assert trust.admit_report(_at("d1", 50, T0), 0.0, T0) is None
    again = [trust.admit_report(_at("d1", s % 50, T0), 0.01, T0) for s in range(100)]
    assert sum(r is None for r in again) == 20
    assert all(r.reason == RATE_LIMITED for r in again if r is not None)


def test_far_future_seqs_are_refused_but_a_real_gap_is_not() -> None:
    trust = Trust(TrustSettings(rate_per_s=5.0, max_seq_ahead=100))
    assert trust.admit_report(report("d1", 10, confident=True), 0.0) is None
    forged = [trust.admit_report(report("d1", 1_000_000 + k, confident=True), 1.0)
              for k in range(30)]
    assert all(r is not None for r in forged) and forged[0].reason == SEQ_AHEAD
    assert trust.admit_report(report("d1", 11, confident=True), 1.0) is None
    assert trust.admit_report(report("d1", 111, confident=True), 1.0) is not None  # spent
    assert trust.admit_report(report("d1", 110, confident=True), 1.0) is None  # the credit
    # an hour offline at 5/s: 18,000 captures counted, most dropped from the ring
    assert trust.admit_report(report("d1", 110 + 18_000, confident=True), 3601.0) is None
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


def test_a_seeded_book_bounds_the_first_report_after_a_restart() -> None:
    trust = Trust(TrustSettings(allowlist=frozenset({"d1"})))
    trust.seed("d1", 1, 500, 0.0)
    trust.seed("intruder", 1, 10, 0.0)  # not on the site: nothing kept
    assert trust.tracked == 1
    # a forger's jump right after the restart is not an anchor any more
    jump = trust.admit_report(_at("d1", 10_000_000, T0 + 1000), 0.1, T0 + 1000)
    assert jump is not None and jump.reason == SEQ_AHEAD
    # the device's backlog from where it stood is admitted (its clock vouches for it)
    assert all(trust.admit_report(_at("d1", s, T0 + (s - 500) * 200), 0.2, T0 + 61_000)
               is None for s in range(501, 801))
