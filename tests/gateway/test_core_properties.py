"""The frame-lifecycle core, without a broker: any interleaving, one final per frame.

Each example draws a few frames (confident, unsure, private, frameless, tight deadline)
and a sequence of events -- arrivals one by one or in batches, duplicates and
redeliveries, edge answers (confident, unsure, failed), the edge queue filling up,
cloud answers (for waiting frames or late, errors, answered twice), spool failures,
the breaker opening, time passing, PUBACKs, crashes and restarts with recovery from
the real SQLite ledger -- and then lets everything finish. Whatever happened:

* every acknowledged frame has exactly one final answer (revision 0) on the wire
  (republished after a crash only as the very same bytes);
* at most one correction per frame (revision 1, from the cloud), never before its final;
* nothing is published for a frame that never arrived, and a private frame never
  reaches the spool (the world asserts that) nor gets a cloud answer.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecascade.gateway.breaker import BreakerState
from edgecascade.gateway.ledger import Key
from edgecascade.protocol import Reason, Result, decode

from .world import KINDS, World, make_report

#: Unsure frames (edge, cloud, corrections) are where the lifecycle is interesting.
MIX = (*KINDS, "unsure", "unsure", "unsure")

EXAMPLES = 400

keys = st.tuples(st.sampled_from(["d0", "d1"]), st.just(1), st.integers(0, 3))
arrive = st.tuples(st.just("arrive"), st.lists(st.integers(0, 15), min_size=1, max_size=4))
edge_answer = st.tuples(st.just("edge"), st.integers(0, 3),
                 st.sampled_from(["confident", "unsure", "error"]))
cloud = st.tuples(st.just("cloud"), st.integers(0, 7), st.sampled_from(["ok", "ok", "error"]),
                  st.booleans())
advance = st.tuples(st.just("advance"), st.sampled_from([10, 600, 1500, 1500]))
# Weighted: the common events several times over, the rare ones (faults, restarts) once.
events = st.one_of(
    arrive, arrive, arrive, edge_answer, edge_answer, cloud, cloud, cloud, advance, advance,
    st.tuples(st.just("spool"), st.sampled_from([None, "full", "claimcheck: store failed"])),
    st.tuples(st.just("breaker"), st.sampled_from(list(BreakerState))),
    st.tuples(st.just("edge_up"), st.booleans()),
    st.tuples(st.just("puback")),
    st.tuples(st.just("restart")),
    st.tuples(st.just("resume")),
)


def play(world: World, frames: list[Key], script: list[tuple[object, ...]]) -> None:
    for ev in script:
        name = ev[0]
        if name == "arrive":
            world.arrive([frames[i % len(frames)] for i in ev[1]])  # type: ignore[attr-defined]
        elif name == "edge":
            world.edge_done(int(ev[1]), str(ev[2]))  # type: ignore[call-overload]
        elif name == "cloud":
            world.cloud(int(ev[1]), str(ev[2]), bool(ev[3]))  # type: ignore[call-overload]
        elif name == "advance":
            world.advance(int(ev[1]))  # type: ignore[call-overload]
        elif name == "spool":
            world.spool_fails = ev[1]  # type: ignore[assignment]
        elif name == "breaker":
            world.breaker = ev[1]  # type: ignore[assignment]
        elif name == "edge_up":
            world.edge_up = bool(ev[1])
        elif name == "puback":
            world.puback()
        elif name == "restart":
            world.restart()
        elif name == "resume":
            world.resume()
    world.spool_fails = None
    world.drain()


def check(world: World) -> None:
    finals: dict[Key, set[bytes]] = {}
    corrections: dict[Key, set[bytes]] = {}
    for i, w in enumerate(world.wire):
        assert w.key in world.reports, f"a result for a frame that never arrived: {w.key}"
        res = w.result
        assert (res.device_id, res.epoch, res.seq, res.revision) == (*w.key, w.revision)
        if w.revision == 0:
            finals.setdefault(w.key, set()).add(w.data)
        else:
            assert w.revision == 1, f"{w.key}: revision {w.revision}"
            assert w.key in finals, f"{w.key}: correction #{i} before its final"
            assert all(decode(Result, f).tier != "cloud" for f in finals[w.key]), \
                f"{w.key}: a correction of a cloud answer"
            assert res.tier == "cloud" and res.reason == Reason.CLOUD_ANSWER.value
            assert not world.reports[w.key].private
            corrections.setdefault(w.key, set()).add(w.data)
    for key in world.acked:
        assert len(finals.get(key, ())) == 1, \
            f"{key}: {len(finals.get(key, ()))} different final answers: " \
            f"{[w.result for w in world.wire if w.key == key]}"
    for key, sent in corrections.items():
        assert len(sent) == 1, f"{key}: {len(sent)} different corrections"
    assert set(finals) == world.acked


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(st.sampled_from(MIX), min_size=1, max_size=8),
       script=st.lists(events, min_size=4, max_size=60))
def test_every_frame_gets_exactly_one_final_and_corrections_follow_it(
        kinds: list[str], script: list[tuple[object, ...]]) -> None:
    frames: list[Key] = [("d0" if i % 2 == 0 else "d1", 1, i) for i in range(len(kinds))]
    reports = {k: make_report(k[0], k[2], kind) for k, kind in zip(frames, kinds, strict=True)}
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp), reports)
        try:
            play(world, frames, script)
            check(world)
        finally:
            world.close()


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(kinds=st.lists(st.sampled_from(MIX), min_size=1, max_size=6),
       batches=st.lists(st.lists(st.integers(0, 11), min_size=1, max_size=6), min_size=1,
                        max_size=6))
def test_batch_admission_is_the_same_as_one_by_one(kinds: list[str],
                                                   batches: list[list[int]]) -> None:
    """Admitting reports in batches (duplicates inside a batch too) answers the same
    frames with the same revisions as admitting them one at a time. (The answers may
    differ: a batch decides on one snapshot, so a frame can miss a fallback that an
    earlier frame of its batch would have left in the cache.)"""
    frames: list[Key] = [("d0", 1, i) for i in range(len(kinds))]
    reports = {k: make_report(k[0], k[2], kind) for k, kind in zip(frames, kinds, strict=True)}
    seen = []
    for batched in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            world = World(Path(tmp), reports)
            try:
                for batch in batches:
                    picked = [frames[i % len(frames)] for i in batch]
                    if batched:
                        world.arrive(picked)
                    else:
                        for key in picked:
                            world.arrive([key])
                world.drain()
                check(world)
                seen.append(sorted({(w.key, w.revision) for w in world.wire}))
            finally:
                world.close()
    assert seen[0] == seen[1]
