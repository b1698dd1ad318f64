"""Ledger (dedupe + outbox), last-good cache and spool on real SQLite files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from edgecascade.gateway.cache import Answer, LastGoodCache, frame_hash
from edgecascade.gateway.ledger import Ledger, Status
from edgecascade.gateway.spool import ROW_OVERHEAD, Spool
from edgecascade.protocol import Frame

ITEM = b"x" * 1000
SIZE = len(ITEM) + ROW_OVERHEAD


def test_ledger_admits_each_frame_once(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    assert led.admit(("d", 1, 1), b"r", 5) is None
    dup = led.admit(("d", 1, 1), b"r", 6)
    assert dup is not None and dup.status is Status.PENDING
    assert led.admit_final(("d", 1, 2), 5, lambda: b"res") is None
    assert led.admit_final(("d", 1, 2), 5, lambda: b"res").status is Status.UNSENT
    assert led.admit(("d", 2, 1), b"r", 5) is None  # a new epoch is a new frame
    assert [p.key for p in led.pending()] == [("d", 1, 1), ("d", 2, 1)]
    led.record(("d", 1, 1), 0, b"res0", cloud_done=False)
    assert [k for k, _, _ in led.unsent()] == [("d", 1, 1), ("d", 1, 2)]  # arrival order
    led.mark_sent([(("d", 1, 1), 0), (("d", 1, 2), 0)])
    assert led.unsent() == []
    led.record(("d", 1, 1), 1, b"res1", cloud_done=True)
    st = led.state(("d", 1, 1))
    assert st is not None and (st.revision, st.cloud_done, st.status) == (1, True, Status.UNSENT)
    led.close()
    again = Ledger(tmp_path / "l.sqlite")  # durable across reopen
    assert again.state(("d", 1, 1)).revision == 1
    assert [p.key for p in again.pending()] == [("d", 2, 1)]


def test_ledger_prunes_only_finished_frames_beyond_the_window(tmp_path):
    led = Ledger(tmp_path / "l.sqlite", keep=100)
    for i in range(300):
        led.admit_final(("d", 1, i), 0, lambda: b"r")
    led.mark_sent([(("d", 1, i), 0) for i in range(250)])
    led.admit(("d", 1, 1000), b"p", 0)
    removed = led.prune()
    assert removed == 201  # all but the newest 100 rows (ids 202..301), sent ones only
    assert led.state(("d", 1, 0)) is None and led.state(("d", 1, 299)) is not None
    assert led.state(("d", 1, 1000)).status is Status.PENDING


def test_epochs_always_increase(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    a = led.next_epoch("d", floor=10)
    b = led.next_epoch("d", floor=10)
    assert (a, b) == (10, 11)
    assert led.next_epoch("d", floor=5) == 12


def test_cache_stream_and_content(tmp_path):
    c = LastGoodCache(tmp_path / "c.sqlite", max_entries=3)
    a = Answer(4, 0.97, "cloud", "m", 1, 1000)
    c.put_stream("d", a)
    assert c.last("d") == a and c.last("other") is None
    f1 = Frame(data=bytes(4), shape=(2, 2))
    f2 = Frame(data=bytes(4), shape=(4,))
    assert frame_hash(f1) != frame_hash(f2)  # shape is part of the identity
    c.put_content(frame_hash(f1), a)
    assert c.lookup(frame_hash(f1)) == a and c.lookup(frame_hash(f2)) is None


def test_spool_is_bounded_and_drops_least_valuable_first(tmp_path):
    sp = Spool(tmp_path / "s.sqlite", max_bytes=5 * SIZE)
    for i, value in enumerate([0.9, 0.1, 0.5, 0.1, 0.8]):
        assert sp.put(("d", 1, i), ITEM, value).stored
    assert sp.used_bytes == 5 * SIZE
    res = sp.put(("d", 1, 10), ITEM, 0.7)  # evicts the oldest of the least valuable (seq 1)
    assert res.stored and res.dropped == [("d", 1, 1)]
    res = sp.put(("d", 1, 11), ITEM, 0.05)  # less valuable than all: itself dropped
    assert not res.stored and res.dropped == [("d", 1, 11)]
    assert sp.used_bytes <= sp.max_bytes
    assert sp.stored_keys() == [("d", 1, 0), ("d", 1, 2), ("d", 1, 3), ("d", 1, 4), ("d", 1, 10)]
    assert sp.put(("d", 1, 0), ITEM, 1.0).duplicate


def test_spool_replays_in_order_and_releases_unanswered(tmp_path):
    sp = Spool(tmp_path / "s.sqlite", max_bytes=100 * SIZE)
    for i in range(10):
        sp.put(("d", 1, i), ITEM, 1.0)
    first = sp.next_batch(4, 10**6, now=0)
    assert [i.key[2] for i in first] == [0, 1, 2, 3]
    sp.mark_inflight([i.id for i in first], "c1")
    assert [i.key[2] for i in sp.next_batch(4, 10**6, now=0)] == [4, 5, 6, 7]
    assert [i.key[2] for i in sp.next_batch(100, 2 * len(ITEM), now=0)] == [4, 5]
    sp.remove([("d", 1, 0), ("d", 1, 1)])
    assert sp.release("c1", ready_at=50) == 2
    assert [i.key[2] for i in sp.next_batch(100, 10**6, now=10)][:2] == [4, 5]
    assert [i.key[2] for i in sp.next_batch(2, 10**6, now=60)] == [2, 3]
    assert sp.depth == 8


CHILD = textwrap.dedent("""
    import sys
    from edgecascade.gateway.spool import Spool
    sp = Spool(sys.argv[1], max_bytes=10**8)
    i = 0
    while True:
        assert sp.put(("d", 1, i), b"y" * 500, 1.0).stored
        print(i, flush=True)  # reported only once committed
        i += 1
""")


def test_spool_survives_sigkill(tmp_path):
    path = tmp_path / "s.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= 300:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    sp = Spool(path, max_bytes=10**8)
    keys = [k[2] for k in sp.stored_keys()]
    assert keys[: acked + 1] == list(range(acked + 1))  # every committed item, in order
    assert sp.depth >= acked + 1
