"""A wiped board (settings erased: epoch 1, seq 0 again) is a new session, still answered.

The ledger dedupes by (device, epoch, seq). A board's epoch is its NVS boot counter, so
after ``edgecascade flash --erase-settings`` (or any NVS wipe) it reuses keys the ledger
may still hold from its first boots; those new frames must not be taken for duplicates.
"""

from __future__ import annotations

import time
from dataclasses import replace

from edgecascade.gateway.ledger import Ledger, Status
from edgecascade.protocol import encode
from tests.gateway.conftest import decoded_results
from tests.gateway.support import edge_split, report
from tests.support import publish


def _answer(ledger: Ledger, key: tuple[str, int, int]) -> None:
    ledger.record(key, 0, b"result", cloud_done=False)
    ledger.mark_sent([(key, 0)])


def test_ledger_epoch_backwards_is_a_new_session(tmp_path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    for epoch in (1, 2, 3):  # three boots, two frames each, all answered
        for seq in (0, 1):
            assert ledger.admit(("d1", epoch, seq), b"r", 0) is None
            _answer(ledger, ("d1", epoch, seq))
        assert ledger.admit_final(("d1", epoch, 2), 0, lambda: b"device answer") is None
        ledger.mark_sent([(("d1", epoch, 2), 0)])
    assert ledger.admit(("d1", 3, 1), b"r", 0) is not None  # a real duplicate stays one
    assert ledger.admit(("d2", 1, 0), b"r", 0) is None  # another device, owed an answer

    # wiped: epoch 1 again; both admission paths see new frames
    assert ledger.admit(("d1", 1, 0), b"new", 0) is None
    assert ledger.admit_final(("d1", 1, 2), 0, lambda: b"new answer") is None
    assert ledger.admit(("d1", 1, 0), b"new", 0) is not None  # its own redelivery: a duplicate
    _answer(ledger, ("d1", 1, 0))
    # the next boot (epoch 2) is new too: the old epoch-2 frames went with the wipe
    assert ledger.admit(("d1", 2, 0), b"new", 0) is None
    assert ledger.admit(("d1", 1, 1), b"late", 0) is None  # still session 1 of the new board
    # the other device's owed frame was not touched
    state = ledger.state(("d2", 1, 0))
    assert state is not None and state.status is Status.PENDING

    # a restarted gateway (cache empty) reads the highest epoch from disk
    ledger.db.close()
    again = Ledger(tmp_path / "ledger.sqlite")
    assert again.admit(("d1", 2, 0), b"new", 0) is not None  # same session: duplicate
    _answer(again, ("d1", 2, 0))
    assert again.admit(("d1", 1, 0), b"wiped again", 0) is None


def test_frames_still_owed_an_answer_are_kept(tmp_path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert ledger.admit(("d1", 4, 0), b"old, pending", 0) is None
    assert ledger.admit(("d1", 5, 0), b"r", 0) is None
    assert ledger.admit(("d1", 1, 0), b"wiped", 0) is None
    assert [p.key for p in ledger.pending()] == [("d1", 4, 0), ("d1", 5, 0), ("d1", 1, 0)]


def _drained(gw, timeout: float = 20.0) -> None:
    """Wait until every result the gateway stored is acknowledged by the broker."""
    end = time.monotonic() + timeout
    while gw.ledger.count(Status.UNSENT) or gw.ledger.count(Status.PENDING):
        assert time.monotonic() < end, "gateway never finished answering"
        time.sleep(0.02)


def test_wiped_board_is_answered_end_to_end(broker, topics, start_gateway, results) -> None:
    """Real mosquitto, real gateway (SQLite ledger, edge model): every session answered."""
    sure, _ = edge_split()
    gw = start_gateway(broker.url, topics)

    def session(epoch: int, stamp: int) -> None:
        reps = [report("cam-1", 0, confident=True, epoch=epoch),
                report("cam-1", 1, confident=False, image=sure[stamp % len(sure)], epoch=epoch)]
        publish(broker.host, broker.port, [(topics.device_report("cam-1"),
                                            encode(replace(r, ts_ms=r.ts_ms + stamp)))
                                           for r in reps])

    sent = 0
    for epoch, stamp in ((1, 0), (2, 1), (3, 2), (1, 100), (2, 101)):  # boots, wipe, boot
        session(epoch, stamp)
        sent += 2
        results.wait_for(sent, 30)
        _drained(gw)
    res = decoded_results(results)
    assert len(res) == sent == 10, results.describe()
    after_wipe = [r for r in res if r.epoch in (1, 2)][-4:]
    assert sorted((r.epoch, r.seq, r.tier) for r in after_wipe) == [
        (1, 0, "device"), (1, 1, "edge"), (2, 0, "device"), (2, 1, "edge")]
