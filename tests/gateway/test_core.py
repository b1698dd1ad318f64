"""The frame-lifecycle core, event by event: which answer, which reason, which effects."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecascade.gateway import effects as fx
from edgecascade.gateway.breaker import BreakerState
from edgecascade.gateway.ledger import Key
from edgecascade.protocol import Reason, encode

from .world import World, make_report

A: Key = ("d0", 1, 0)
B: Key = ("d1", 1, 1)


@pytest.fixture
def world(tmp_path: Path):
    w = World(tmp_path, {A: make_report("d0", 0, "unsure"), B: make_report("d1", 1, "confident")})
    yield w
    w.close()


def answers(w: World) -> list[tuple[Key, int, str, str]]:
    return [(x.key, x.revision, x.result.reason, x.result.tier) for x in w.wire]


def test_a_batch_asks_the_ledger_once_per_new_report_and_publishes_after(world: World) -> None:
    now = world.now()
    arrivals = [world.arrival(world.reports[k], encode(world.reports[k]), now.mono, now.wall_ms)
                for k in (B, A, B)]
    effects = world.core.arrive(now, arrivals)
    asks = [e for e in effects if isinstance(e, (fx.AdmitFinal, fx.AdmitPending))]
    assert [(type(e), e.key) for e in asks] == [(fx.AdmitFinal, B), (fx.AdmitPending, A)]
    # The second B is being admitted already: a duplicate, without asking the ledger.
    assert fx.Log("duplicate report", (("frame", "d1/1/1"), ("status", "PENDING"))) in effects
    assert not any(isinstance(e, fx.Emit) for e in effects), "nothing published before durable"
    final, pending = asks
    assert isinstance(final, fx.AdmitFinal) and isinstance(pending, fx.AdmitPending)
    out = world.core.admitted(now, [
        fx.Admitted(B, world.ledger.admit_final(
            B, final.received_ms, lambda: encode(world.core.final_result(now, final)))),
        fx.Admitted(A, world.ledger.admit(A, pending.payload, pending.received_ms))])
    emits = [e for e in out if isinstance(e, fx.Emit)]
    assert [(e.result.key, e.record) for e in emits] == [(B, False)]  # stored with its admit
    assert any(isinstance(e, fx.SubmitEdge) and e.job.key == A for e in out)
    assert world.core.holds(A) and not world.core.holds(B)
    # The ledger knows B from now on: a later redelivery is its duplicate.
    later = world.core.arrive(now, arrivals[:1])
    assert isinstance(later[-1], fx.AdmitFinal) and later[-1].key == B
    assert world.core.admitted(now, [fx.Admitted(B, world.ledger.state(B))])[0] == \
        fx.Count("duplicates")


def test_a_redelivery_of_a_frame_in_hand_is_a_duplicate_without_the_ledger(world: World) -> None:
    world.arrive([A])
    assert world.core.holds(A)
    now = world.now()
    again = world.arrival(world.reports[A], encode(world.reports[A]), now.mono, now.wall_ms)
    out = world.core.arrive(now, [again])
    assert out[1:] == [fx.Count("duplicates"),
                   fx.Log("duplicate report", (("frame", "d0/1/0"), ("status", "PENDING")))]


def test_cloud_answer_in_time_is_the_final_and_needs_no_correction(world: World) -> None:
    world.arrive([A])
    world.edge_done(0, "unsure")
    assert world.core.waiting == 1 and world.spooled == [A]
    world.cloud(0, "ok", keep=True)
    world.cloud(0, "ok", keep=False)  # delivered twice
    assert answers(world) == [(A, 0, "cloud_answer", "cloud")]


def test_late_cloud_answer_is_one_correction_after_the_timeout(world: World) -> None:
    world.arrive([A])
    world.edge_done(0, "unsure")
    world.advance(999)
    assert world.wire == []
    world.advance(1)
    world.cloud(0, "ok", keep=True)
    world.cloud(0, "ok", keep=False)
    assert answers(world) == [(A, 0, "cloud_timeout", "edge"), (A, 1, "cloud_answer", "cloud")]
    assert world.wire[0].result.degraded


def test_cloud_error_answers_locally_and_a_late_error_is_only_logged(world: World) -> None:
    world.arrive([A])
    world.edge_done(0, "error")
    world.cloud(0, "error", keep=True)
    assert answers(world) == [(A, 0, "cloud_error", "device")]
    reply = fx.CloudReply(A, None, "boom", 0.0, None)
    assert world.core.cloud_answer(world.now(), reply, None) == [
        fx.Log("late cloud error", (("frame", "d0/1/0"), ("error", "boom")))]


@pytest.mark.parametrize(("why", "reason"), [("full", Reason.CLOUD_DOWN),
                                             ("claimcheck: store failed", Reason.CLOUD_ERROR)])
def test_a_frame_the_spool_refuses_is_answered_at_once(world: World, why: str,
                                                       reason: Reason) -> None:
    world.spool_fails = why
    world.edge_up = False
    world.arrive([A])
    assert answers(world) == [(A, 0, reason.value, "device")]
    assert world.core.waiting == 0
    world.advance(5000)
    assert len(world.wire) == 1


def test_breaker_open_answers_locally_then_spools_for_a_correction(world: World) -> None:
    world.breaker = BreakerState.OPEN
    world.edge_up = False
    world.arrive([A])
    assert answers(world) == [(A, 0, "cloud_down", "device")]
    assert world.spooled == [A] and world.core.waiting == 0
    world.cloud(0, "ok", keep=False)
    assert answers(world)[1] == (A, 1, "cloud_answer", "cloud")


def test_a_restart_recovers_pending_frames_and_republishes_unsent_results(world: World) -> None:
    world.arrive([A, B])  # A pending at the edge, B answered (not yet PUBACKed)
    world.restart()
    world.resume()
    assert [(w.key, w.revision) for w in world.wire] == [(B, 0), (B, 0)]
    assert world.wire[0].data == world.wire[1].data  # the same bytes again
    assert world.core.holds(A) and len(world.edge_queue) == 1
    world.drain()
    assert [k for k, rev, _, _ in answers(world) if rev == 0].count(A) == 1
