"""A session change moves a device's answered frames aside, it does not forget them.

A stolen device credential can publish a report with the next epoch; the real device's
next report is then "an epoch below the highest" -- the wiped-board rule -- and the
ledger used to delete the device's answered frames, so replays of them were answered
again. Now they are moved aside and recognised by their bytes until normal retention.
"""

from __future__ import annotations

from edgecascade.gateway.ledger import Ledger, Status


def _bytes(key: tuple[str, int, int], tag: str = "") -> bytes:
    return f"report {key} {tag}".encode()


def _answered(ledger: Ledger, key: tuple[str, int, int], tag: str = "") -> None:
    assert ledger.admit(key, _bytes(key, tag), 0) is None
    ledger.record(key, 0, b"result", cloud_done=False)
    ledger.mark_sent([(key, 0)])


def test_a_forged_epoch_leaves_the_old_frames_duplicates(tmp_path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    for seq in range(10):
        _answered(ledger, ("d1", 5, seq))
    _answered(ledger, ("d1", 6, 0), "forged")  # the thief claims the next epoch
    _answered(ledger, ("d1", 5, 10))  # the real device carries on: "a new session"

    for seq in range(10):  # replays of its answered frames: still duplicates
        state = ledger.admit(("d1", 5, seq), _bytes(("d1", 5, seq)), 0)
        assert state is not None and state.status is Status.SENT, seq
    assert ledger.admit(("d1", 5, 11), _bytes(("d1", 5, 11)), 0) is None  # new is new

    # a wiped board really reuses the keys: different bytes, new frames
    assert ledger.admit(("d1", 1, 0), _bytes(("d1", 1, 0), "wiped"), 0) is None
    assert ledger.admit(("d1", 5, 3), _bytes(("d1", 5, 3), "wiped, later"), 0) is None
    # ... and the old bytes are still known after a restart
    ledger.db.close()
    again = Ledger(tmp_path / "ledger.sqlite")
    state = again.admit(("d1", 5, 4), _bytes(("d1", 5, 4)), 0)
    assert state is not None and state.status is Status.SENT
    again.db.close()


def test_moved_aside_frames_leave_with_the_normal_retention(tmp_path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite", keep=5)
    for seq in range(5):
        _answered(ledger, ("d1", 2, seq))
    _answered(ledger, ("d1", 1, 0), "wiped")  # the epoch-2 frames move aside
    state = ledger.admit(("d1", 2, 0), _bytes(("d1", 2, 0)), 0)
    assert state is not None and ledger.prune() == 0  # within the window: kept
    for seq in range(1, 11):
        _answered(ledger, ("d1", 1, seq), "wiped")
    ledger.prune()
    assert ledger.db.query("SELECT COUNT(*) FROM superseded")[0][0] == 0
    assert ledger.admit(("d1", 2, 0), _bytes(("d1", 2, 0)), 0) is None  # beyond: forgotten
    ledger.db.close()
