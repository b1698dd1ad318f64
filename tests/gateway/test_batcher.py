from __future__ import annotations

import threading

from edgecascade.gateway.batcher import DynamicBatcher


class Recorder:
    def __init__(self) -> None:
        self.done: list[tuple[int, object, int]] = []
        self.cond = threading.Condition()

    def __call__(self, item: int, result: object, batch: int) -> None:
        with self.cond:
            self.done.append((item, result, batch))
            self.cond.notify_all()

    def wait(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.done) >= n, 30), self.done


def test_batches_form_while_the_worker_is_busy_and_results_match_items():
    gate = threading.Event()
    sizes: list[int] = []

    def run(items: list[int]) -> list[int]:
        sizes.append(len(items))
        gate.wait(30)
        return [i * 10 for i in items]

    rec = Recorder()
    b = DynamicBatcher(run, rec, max_batch=4, max_delay_s=0.0, capacity=100)
    b.start()
    assert b.submit(0)
    for i in range(1, 10):  # queued while the first batch is held
        assert b.submit(i)
    gate.set()
    rec.wait(10)
    b.stop()
    assert sorted((i, r) for i, r, _ in rec.done) == [(i, i * 10) for i in range(10)]
    assert max(sizes) == 4 and sum(sizes) == 10


def test_full_queue_refuses_instead_of_blocking():
    gate = threading.Event()
    rec = Recorder()
    b = DynamicBatcher(lambda xs: (gate.wait(30), xs)[1], rec, max_batch=1, max_delay_s=0,
                       capacity=3)
    b.start()
    accepted = [b.submit(i) for i in range(6)]
    assert accepted.count(True) == 3 and accepted[:3] == [True] * 3
    assert b.depth == 3
    gate.set()
    rec.wait(3)
    b.stop()


def test_a_failing_batch_reports_the_error_to_every_item():
    rec = Recorder()

    def boom(items: list[int]) -> list[int]:
        raise RuntimeError("model exploded")

    b = DynamicBatcher(boom, rec, max_batch=8, max_delay_s=0.01, capacity=10)
    b.start()
    for i in range(3):
        b.submit(i)
    rec.wait(3)
    b.stop()
    assert all(isinstance(r, RuntimeError) for _, r, _ in rec.done)


def test_stop_finishes_queued_items():
    rec = Recorder()
    b = DynamicBatcher(lambda xs: xs, rec, max_batch=2, max_delay_s=0.5, capacity=10)
    b.start()
    for i in range(5):
        b.submit(i)
    b.stop()
    assert sorted(i for i, _, _ in rec.done) == list(range(5))
    assert not b.submit(99)


def test_submit_many_takes_what_fits_and_on_batch_gets_each_batch_once():
    gate = threading.Event()
    batches: list[tuple[list[int], list[object]]] = []
    done = threading.Condition()

    def on_batch(items: list[int], results) -> None:
        with done:
            batches.append((items, list(results)))
            done.notify_all()

    b = DynamicBatcher(lambda xs: (gate.wait(30), [x + 1 for x in xs])[1], on_batch=on_batch,
                       max_batch=4, max_delay_s=0.0, capacity=6)
    b.start()
    assert b.submit_many(range(10)) == 6  # capacity: the caller routes the other four
    gate.set()
    with done:
        assert done.wait_for(lambda: sum(len(i) for i, _ in batches) == 6, 30)
    b.stop()
    assert [x for items, _ in batches for x in items] == list(range(6))  # in order, once each
    assert all(r == [x + 1 for x in items] for items, r in batches)
    assert max(len(items) for items, _ in batches) <= 4


def test_exactly_one_completion_callback():
    import pytest

    with pytest.raises(ValueError):
        DynamicBatcher(lambda xs: xs)
    with pytest.raises(ValueError):
        DynamicBatcher(lambda xs: xs, lambda *a: None, on_batch=lambda *a: None)


def test_edge_threads_leave_half_the_cores_to_the_gateway():
    from edgecascade.gateway.batcher import edge_threads
    from edgecascade.gateway.config import EdgeConfig

    assert [edge_threads(c) for c in (1, 2, 4, 6, 8, 16)] == [1, 1, 2, 3, 4, 4]
    assert EdgeConfig().num_threads == edge_threads()
