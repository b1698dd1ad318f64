"""Group commit: many frames admitted in one ledger transaction, on real SQLite.

``Ledger.admit_batch`` must give every frame of a batch exactly what admitting it alone,
in the same order, would give (dedupe against the ledger and within the batch, the
wiped-board epoch rule per key, the result built once and only for a new frame), while
committing once; and when the disk refuses the transaction, keep every new frame of it
in memory (the storage-error path) so it is still answered once.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict

from edgecascade.gateway.db import StorageHealth
from edgecascade.gateway.ledger import Admission, Key, Ledger, Status

REPORT = b"r" * 2000  # half a page: a capped file refuses a batch of these quickly


def commits(led: Ledger) -> list[str]:
    """Every COMMIT the ledger's connection runs from now on."""
    seen: list[str] = []
    conn: sqlite3.Connection = led.db._conn

    def trace(sql: str) -> None:
        if sql.strip().upper() == "COMMIT":
            seen.append(sql)

    conn.set_trace_callback(trace)
    return seen


def final(key: Key, built: list[Key], data: bytes = b"answer") -> Admission:
    def make() -> bytes:
        built.append(key)
        return data
    return Admission(key, 5, result=make)


def test_many_keys_in_one_transaction(tmp_path) -> None:
    led = Ledger(tmp_path / "l.sqlite")
    seen = commits(led)
    built: list[Key] = []
    items = [final((f"d{i % 17}", 1, i), built) if i % 3 else
             Admission((f"d{i % 17}", 1, i), 5, REPORT) for i in range(200)]
    assert led.admit_batch(items) == [None] * 200
    assert len(seen) == 1  # one COMMIT for the 200 frames
    assert sorted(built) == sorted(a.key for a in items if a.result is not None)
    assert led.count(Status.PENDING) == 67 and led.count(Status.UNSENT) == 133
    assert {k for k, _, data in led.unsent()} == set(built)
    assert {p.key for p in led.pending()} == {a.key for a in items if a.result is None}


def test_duplicates_within_a_batch_and_against_the_ledger(tmp_path) -> None:
    led = Ledger(tmp_path / "l.sqlite")
    assert led.admit(("d", 1, 1), REPORT, 0) is None
    assert led.admit_final(("d", 1, 2), 0, lambda: b"old") is None
    built: list[Key] = []
    states = led.admit_batch([
        final(("d", 1, 1), built),  # pending in the ledger: not answered at once
        Admission(("d", 1, 2), 0, REPORT),  # answered in the ledger
        final(("d", 1, 3), built),  # new
        Admission(("d", 1, 3), 0, REPORT),  # the same frame again in the batch
        Admission(("d", 1, 4), 0, REPORT),  # new
        final(("d", 1, 4), built),  # again, the other path
    ])
    assert [s.status if s else None for s in states] == [
        Status.PENDING, Status.UNSENT, None, Status.UNSENT, None, Status.PENDING]
    assert built == [("d", 1, 3)]  # built once, and only for the new frame
    assert led.unsent() == [(("d", 1, 2), 0, b"old"), (("d", 1, 3), 0, b"answer")]


def _history(led: Ledger) -> None:
    """Boots 1..3 of d, every frame answered and sent but one of boot 1, still owed."""
    for epoch in (1, 2, 3):
        for seq in (0, 1):
            led.admit_final(("d", epoch, seq), 0, lambda: b"old")
            led.mark_sent([(("d", epoch, seq), 0)])
        if epoch == 1:
            led.admit(("d", 1, 2), REPORT, 0)  # pending: owed an answer


WIPED = [(("d", 3, 1), "f"), (("e", 1, 0), "p"), (("d", 1, 0), "p"), (("d", 1, 1), "f"),
         (("d", 1, 2), "f"), (("d", 1, 0), "f"), (("d", 2, 0), "p"), (("d", 3, 7), "p")]


def _items(built: list[Key]) -> list[Admission]:
    return [final(k, built) if how == "f" else Admission(k, 0, REPORT) for k, how in WIPED]


def test_wiped_board_inside_a_batch_is_admitted_as_if_one_by_one(tmp_path) -> None:
    alone, together = Ledger(tmp_path / "a.sqlite"), Ledger(tmp_path / "b.sqlite")
    _history(alone)
    _history(together)
    built_alone: list[Key] = []
    one_by_one = [alone.admit_batch([a])[0] for a in _items(built_alone)]
    built: list[Key] = []
    batch = together.admit_batch(_items(built))
    assert batch == one_by_one
    assert built == built_alone
    assert [s.status if s else None for s in batch] == [
        Status.SENT,  # before the wipe: a real duplicate
        None,  # another device
        None, None,  # the wiped board's new session: answered frames forgotten
        Status.PENDING,  # owed an answer from before: kept, a duplicate until answered
        Status.PENDING,  # its own redelivery within the batch
        None,  # boot 2 again after the wipe: forgotten too
        None,  # a new frame at boot 3
    ]
    rows = sorted(together.db.query("SELECT device_id, epoch, seq, status FROM frames"))
    assert rows == sorted(alone.db.query("SELECT device_id, epoch, seq, status FROM frames"))


def test_storage_error_mid_batch_keeps_the_batch_in_memory(tmp_path) -> None:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    health = StorageHealth(on_error=lambda s, r: counts.__setitem__(
        (s, r), counts[(s, r)] + 1))
    led = Ledger(tmp_path / "l.sqlite", health=health)
    assert led.admit(("d", 1, 0), REPORT, 0) is None
    led.db.limit_pages(led.db.page_count() + 3)  # room for a few frames, not the batch
    built: list[Key] = []
    items = [Admission(("d", 1, 0), 0, REPORT)]  # on disk already: a duplicate
    items += [final(("d", 1, s), built, b"a" * 2000) if s % 2 else
              Admission(("d", 1, s), 0, REPORT) for s in range(1, 21)]
    items.append(final(("d", 1, 1), built))  # the batch's own duplicate
    states = led.admit_batch(items)
    assert states[0] is not None and states[0].status is Status.PENDING
    assert states[1:21] == [None] * 20  # new, answered, though the disk refused them
    assert states[21] is not None and states[21].status is Status.UNSENT
    assert counts == {("ledger", "disk_full"): 1}  # one transaction, one failed write
    assert led.memory_frames == 20
    on_disk = led.db.query("SELECT seq FROM frames")
    assert on_disk == [(0,)]  # nothing of the refused transaction is on disk
    assert sorted(built) == [("d", 1, s) for s in range(1, 21, 2)]  # each built once
    again = led.admit_batch([Admission(("d", 1, 4), 0, REPORT), final(("d", 1, 5), built)])
    assert [s.status if s else None for s in again] == [Status.PENDING, Status.UNSENT]
    assert len(built) == 10  # a duplicate answered from memory builds nothing

    led.db.limit_pages(None)  # space returns
    assert led.flush_memory() == 20
    assert led.memory_frames == 0
    assert len(led.db.query("SELECT seq FROM frames")) == 21
    assert led.admit_batch([Admission(("d", 1, 2), 0, REPORT)])[0] is not None


def test_a_batch_counts_its_own_frames_in_the_edge_queue(tmp_path) -> None:
    """Snapshots of one batch are read before any of it reaches the edge queue: the core
    counts the batch's earlier edge frames, so the batch never overfills the queue."""
    from edgecascade.gateway import effects as fx

    from .world import EDGE_CAPACITY, World, make_report

    keys: list[Key] = [(f"d{i}", 1, i) for i in range(EDGE_CAPACITY + 2)]
    w = World(tmp_path, {k: make_report(k[0], k[2], "unsure") for k in keys})
    try:
        now = w.now()
        effects = w.core.arrive(now, [w.arrival(w.reports[k], b"r", now.mono, now.wall_ms)
                                      for k in keys])
        decided = [dict(e.labels)["action"] for e in effects
                   if isinstance(e, fx.Count) and e.metric == "decisions"]
        assert decided[:EDGE_CAPACITY] == ["edge"] * EDGE_CAPACITY
        assert "edge" not in decided[EDGE_CAPACITY:]  # the queue is full by then
    finally:
        w.close()
