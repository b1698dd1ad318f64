"""The storage-error path: stores on a state disk that refuses writes, on real SQLite.

Seams (gateway/db.py): ``Database.limit_pages`` caps the file with ``PRAGMA
max_page_count``, so SQLite fails exactly as on a full disk (SQLITE_FULL);
``Database.refuse_writes`` makes every write fail (SQLITE_READONLY), even the updates
and deletes a full disk might still take.
"""

from __future__ import annotations

import logging
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable

from edgecascade.gateway.cache import Answer, LastGoodCache
from edgecascade.gateway.config import CloudConfig, StorageConfig
from edgecascade.gateway.db import StorageHealth
from edgecascade.gateway.ledger import Ledger, Status
from edgecascade.gateway.spool import Spool
from edgecascade.protocol import Result, encode
from tests.gateway.conftest import decoded_results
from tests.gateway.support import edge_split, report
from tests.support import publish

REPORT = b"r" * 2000  # half a page: a full disk shows within a few frames


def errors_counter(clock: Callable[[], float] = time.monotonic,
                   ) -> tuple[StorageHealth, dict[tuple[str, str], int]]:
    counts: dict[tuple[str, str], int] = defaultdict(int)

    def count(store: str, reason: str) -> None:
        counts[(store, reason)] += 1

    return StorageHealth(on_error=count, settle_s=5, clock=clock), counts


def fill_ledger(led: Ledger, start: int = 0) -> int:
    """Admit frames until the capped file refuses one; returns the first refused seq."""
    for seq in range(start, start + 1000):
        assert led.admit(("d", 1, seq), REPORT, 1000 + seq) is None  # new, either way
        if led.memory_frames:
            return seq
    raise AssertionError("the capped ledger never refused a write")


def test_ledger_keeps_answering_in_memory_when_the_disk_is_full(tmp_path, caplog):
    now = [0.0]
    health, counts = errors_counter(lambda: now[0])
    led = Ledger(tmp_path / "l.sqlite", health=health)
    led.db.limit_pages(led.db.page_count())
    with caplog.at_level(logging.INFO, logger="edgecascade.gateway.storage"):
        first = fill_ledger(led)
        refused = ("d", 1, first)
        assert led.state(refused).status is Status.PENDING
        # a redelivered duplicate is recognised, on disk or in memory
        assert led.admit(refused, REPORT, 0).status is Status.PENDING
        assert led.admit(("d", 1, 0), REPORT, 0) is not None
        led.record(refused, 0, b"a" * 3000, cloud_done=False)
        assert led.admit(refused, REPORT, 0).status is Status.UNSENT
        assert led.admit_final(refused, 0, lambda: b"other") is not None  # never a 2nd answer
        built = []
        assert led.admit_final(("d", 1, 5000), 7,
                               lambda: built.append(1) or b"d" * 3000) is None
        assert built == [1]  # the result is built once, even when the disk refused it
        led.mark_sent([(refused, 0), (("d", 1, 5000), 0), (("d", 1, 0), 0)])
        assert led.state(refused).status is Status.SENT
        assert led.flush_memory() == 0  # still full: everything stays in memory
        assert led.memory_frames == 2
        assert counts[("ledger", "disk_full")] == 2  # admit, admit_final; retries not counted
        assert health.degraded() == {"ledger": "disk_full"}
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1  # one clear line, not one per write
        assert "disk full" in errors[0].getMessage()
        assert "memory only" in errors[0].getMessage()  # and what it costs

        led.db.limit_pages(None)  # space returns
        assert led.flush_memory() == 2
        assert not health.failing("ledger")
        now[0] = 10.0
        health.tick()
        assert health.degraded() == {}
        assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
            "state disk writable again: the ledger stores again"]
    assert led.memory_frames == 0
    led.close()
    again = Ledger(tmp_path / "l.sqlite")  # the memory-only frames are on disk now
    st = again.state(refused)
    assert st is not None and (st.status, st.revision) == (Status.SENT, 0)
    assert again.state(("d", 1, 5000)).status is Status.SENT


def test_ledger_memory_is_bounded_and_owed_updates_are_retried(tmp_path):
    led = Ledger(tmp_path / "l.sqlite", memory_keep=100)
    led.admit(("d", 1, 0), b"r", 0)
    led.record(("d", 1, 0), 0, b"res", cloud_done=False)
    led.db.refuse_writes(True)
    for seq in range(1, 251):
        assert led.admit(("d", 1, seq), b"r", 0) is None
    assert led.memory_frames == 100 and led.forgotten == 150  # oldest forgotten first
    assert led.state(("d", 1, 1)) is None and led.state(("d", 1, 250)) is not None
    led.mark_sent([(("d", 1, 0), 0)])  # refused: owed, retried later
    assert led.state(("d", 1, 0)).status is Status.UNSENT
    assert led.next_epoch("dev-x", floor=10) == 10 and led.has_epoch("dev-x")
    assert led.next_epoch("dev-x", floor=10) == 11  # still increasing, in memory
    led.db.refuse_writes(False)
    assert led.flush_memory() == 100
    assert led.state(("d", 1, 0)).status is Status.SENT
    assert led.count(Status.PENDING) == 100
    led.close()
    assert Ledger(tmp_path / "l.sqlite").next_epoch("dev-x", floor=10) == 12


def test_spool_drops_new_items_counted_and_keeps_what_it_holds(tmp_path):
    health, counts = errors_counter()
    sp = Spool(tmp_path / "s.sqlite", max_bytes=10**7, health=health)
    sp.db.limit_pages(sp.db.page_count())
    results = [sp.put(("d", 1, i), b"x" * 1500, 1.0) for i in range(50)]
    stored = [i for i, r in enumerate(results) if r.stored]
    refused = [r for r in results if not r.stored]
    assert refused, "the capped spool never refused a put"
    assert all(r.reason == "disk_full" and len(r.dropped) == 1 for r in refused)
    assert counts[("spool", "disk_full")] == len(refused)
    assert sp.depth == len(stored) and [k[2] for k in sp.stored_keys()] == stored
    assert sp.used_bytes == sum(1500 + 64 for _ in stored)  # accounting matches the file
    sp.db.limit_pages(None)
    assert sp.put(("d", 1, 99), b"x" * 1500, 1.0).stored  # resumes by itself
    assert not health.failing("spool")


def test_spool_owes_releases_and_removals_the_disk_refused(tmp_path):
    sp = Spool(tmp_path / "s.sqlite", max_bytes=10**7)
    for i in range(6):
        sp.put(("d", 1, i), b"x" * 100, 1.0)
    batch = sp.next_batch(3, 10**6, now=0)
    sp.mark_inflight([b.id for b in batch], "c1")
    sp.db.refuse_writes(True)
    assert sp.remove([("d", 1, 3)]) == 0  # refused: owed
    sp.release("c1", ready_at=0)  # refused: owed
    assert sp.owed_writes == 2
    assert ("d", 1, 3) not in [b.key for b in sp.next_batch(10, 10**6, now=0)]
    assert sp.depth == 6  # not removed yet
    refused = sp.put(("d", 1, 10), b"x" * 100, 1.0)
    assert not refused.stored and refused.reason == "io_error"
    sp.db.refuse_writes(False)
    assert sp.flush_owed() and sp.owed_writes == 0
    assert sp.depth == 5
    assert [b.key[2] for b in sp.next_batch(10, 10**6, now=0)] == [0, 1, 2, 4, 5]


def test_cache_keeps_stream_answers_until_the_disk_takes_them(tmp_path):
    health, counts = errors_counter()
    c = LastGoodCache(tmp_path / "c.sqlite", health=health)
    a = Answer(4, 0.97, "cloud", "m", 1, 1000)
    c.db.refuse_writes(True)
    c.put_stream("d", a)
    c.flush()
    c.flush()  # the retry is not counted again
    c.put_content(b"h" * 32, a)  # silently not kept
    assert c.last("d") == a and c.lookup(b"h" * 32) is None
    assert counts == {("cache", "io_error"): 2}  # one stream flush, one content answer
    c.db.refuse_writes(False)
    c.flush()
    c.close()
    assert LastGoodCache(tmp_path / "c.sqlite").last("d") == a


def test_storage_health_logs_one_line_per_episode_and_minute(caplog):
    now = [0.0]
    health = StorageHealth(log_every_s=60, settle_s=5, clock=lambda: now[0])
    full = ("spool", "disk_full", "database or disk is full", "drops")
    with caplog.at_level(logging.INFO, logger="edgecascade.gateway.storage"):
        for _ in range(100):
            health.failed(*full)
        now[0] = 61
        health.failed(*full)  # still failing a minute later: one more line
        health.ok("spool")  # writes again, not settled yet
        assert health.degraded() == {"spool": "disk_full"}
        now[0] = 63
        health.failed(*full)  # flaps: no new line, no false all-clear
        health.ok("spool")
        health.tick()
        now[0] = 68.5
        health.tick()  # settled: one line
        assert health.degraded() == {}
        now[0] = 70
        health.failed(*full)  # a new episode is said at once
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in lines] == ["ERROR", "ERROR", "INFO", "ERROR"], lines
    assert caplog.records[1].failed_writes == 100  # type: ignore[attr-defined]
    assert "writable again" in lines[2][1]


def http_get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return int(r.status), r.read().decode()


def test_gateway_answers_and_acks_every_frame_while_the_disk_is_full(
        broker, topics, start_gateway, results, tmp_path):
    from tests.gateway.test_outage import check_finals, revisions, wait_until

    _, unsure = edge_split()
    # A broker-less cloud: every escalation is answered locally and spooled.
    gw = start_gateway(broker.url, topics, cloud_url="mqtt://127.0.0.1:1",
                       cloud=CloudConfig(deadline_ms=200),
                       storage=StorageConfig(state_dir=str(tmp_path / "st")))
    assert gw.ledger is not None and gw.spool is not None and gw.cache is not None
    for store in (gw.ledger, gw.spool, gw.cache):
        store.db.limit_pages(store.db.page_count())  # the state disk is full
    # More reports than the broker's in-flight window (20): an unacknowledged report
    # would stop delivery and leave the later ones unanswered.
    n = 80
    reps = [report("d1", i, confident=False, image=unsure[i % len(unsure)]) for i in range(n)]
    dups = reps[:10]  # redelivered duplicates while the ledger holds them in memory
    publish(broker.host, broker.port,
            [(topics.device_report("d1"), encode(r)) for r in reps + dups])
    results.wait_for(n, 60)
    wait_until(lambda: gw.metrics.value("duplicates") >= len(dups), 30, "duplicates seen")
    first: list[Result] = decoded_results(results)
    check_finals(revisions(first))  # one final answer per frame, duplicates answered once
    assert len({r.key for r in first}) == n
    assert all(r.degraded for r in first)
    assert gw.metrics.value("storage_errors", store="ledger", reason="disk_full") > 0
    wait_until(lambda: gw.metrics.value("spool_dropped", reason="disk_full") > 0, 30,
               "spool drops counted")
    assert gw.metrics.value("rejected") == 0
    status, text = http_get(gw.http_port, "/readyz")
    assert status == 200 and "degraded storage" in text and "disk_full" in text, text
    _, prom = http_get(gw.http_port, "/metrics")
    assert 'ec_gateway_storage_errors_total{reason="disk_full",store="ledger"}' in prom

    for store in (gw.ledger, gw.spool, gw.cache):
        store.db.limit_pages(None)  # space returns: storage resumes by itself
    wait_until(lambda: gw.ledger.memory_frames == 0 and not gw.storage.degraded(), 30,
               "frames kept in memory written to disk")
    assert http_get(gw.http_port, "/readyz") == (200, "ready\n")
    dropped_at_recovery = gw.metrics.value("spool_dropped")
    depth_at_recovery = gw.spool.depth
    publish(broker.host, broker.port, [(topics.device_report("d1"), encode(r)) for r in reps])
    wait_until(lambda: gw.metrics.value("duplicates") >= len(dups) + n, 30,
               "duplicates recognised from disk")
    more = [report("d1", n + i, confident=False, image=unsure[i]) for i in range(5)]
    publish(broker.host, broker.port, [(topics.device_report("d1"), encode(r)) for r in more])
    results.wait_for(n + 5, 30)
    wait_until(lambda: gw.spool.depth == depth_at_recovery + 5, 30,
               "new escalations spooled again")
    check_finals(revisions(decoded_results(results)))
    assert gw.metrics.value("spool_dropped") == dropped_at_recovery
