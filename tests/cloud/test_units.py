"""Pure parts: token bucket, response cache, micro-batcher, answer core."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edgecascade.cloud import core
from edgecascade.cloud.batcher import BatcherClosed, Job, MicroBatcher
from edgecascade.cloud.dedupe import ResponseCache
from edgecascade.cloud.ratelimit import RateLimiter
from edgecascade.protocol import CloudItem, CloudRequest, Frame, decode, encode
from edgecascade.protocol.limits import MAX_TEXT_LENGTH
from edgecascade.protocol.ratelimit import SlidingWindow


# -- rate limit ---------------------------------------------------------------------------
def test_window_allows_a_full_burst_then_waits_for_the_oldest_to_age_out():
    w = SlidingWindow(limit=100, window=1.0)
    assert all(w.take(0.5) == 0.0 for _ in range(100))
    assert w.take(0.5) == pytest.approx(1.0)
    assert w.take(1.2) == pytest.approx(0.3)
    assert w.take(1.5) == 0.0


def test_window_rejects_bad_parameters():
    with pytest.raises(ValueError):
        SlidingWindow(limit=0)
    with pytest.raises(ValueError):
        SlidingWindow(limit=1, window=0)


def test_limiter_holds_any_window_to_the_quota():
    """Simulated clock (a seam we own): 1,000 publishes never exceed 100 in any second."""
    now = [0.0]
    stamps: list[float] = []
    lim = RateLimiter(100, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(1000):
        lim.acquire()
        stamps.append(now[0])
    for i in range(len(stamps) - 100):  # any 101 consecutive publishes span >= 1 s
        assert stamps[i + 100] - stamps[i] >= 1.0 - 1e-9
    assert now[0] >= 9.0  # 1,000 publishes need at least 9 s of simulated time
    assert lim.waits > 0 and lim.waited_seconds == pytest.approx(now[0])


# -- response cache --------------------------------------------------------------------
def test_cache_evicts_least_recently_used():
    c = ResponseCache(2)
    c.put(("g", "a"), b"A")
    c.put(("g", "b"), b"B")
    assert c.get(("g", "a")) == b"A"  # a is now the most recent
    c.put(("g", "c"), b"C")
    assert c.get(("g", "b")) is None and c.get(("g", "a")) == b"A" and len(c) == 2
    assert c.evictions == 1


def test_cache_of_zero_keeps_nothing():
    c = ResponseCache(0)
    c.put(("g", "a"), b"A")
    assert c.get(("g", "a")) is None


# -- micro-batcher -------------------------------------------------------------------------
class Recorder:
    """A predict function of ours: one-hot of the first pixel, recording batch sizes."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.sizes: list[int] = []
        self.fail_on = fail_on

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        self.sizes.append(int(pixels.shape[0]))
        firsts = pixels[:, 0, 0].astype(int)
        if self.fail_on is not None and self.fail_on in firsts:
            raise RuntimeError("model rejects this input")
        out = np.zeros((pixels.shape[0], 10), np.float32)
        out[np.arange(len(firsts)), firsts % 10] = 1.0
        return out


def job_of(values: list[int], results: dict, name: str, done: threading.Event | None = None) -> Job:
    pixels = np.zeros((len(values), 28, 28), np.uint8)
    pixels[:, 0, 0] = values

    def finish(probs, error):
        results[name] = (probs, error)
        if done is not None and len(results) == done.want:  # type: ignore[attr-defined]
            done.set()

    return Job(pixels if values else None, finish)


def run_jobs(batcher: MicroBatcher, jobs: dict[str, list[int]]) -> dict:
    results: dict = {}
    done = threading.Event()
    done.want = len(jobs)  # type: ignore[attr-defined]
    for name, values in jobs.items():  # queued before the thread starts: they arrive together
        batcher.submit(job_of(values, results, name, done))
    batcher.start()
    assert done.wait(30)
    batcher.close(10)
    return results


def test_requests_arriving_together_share_one_model_call():
    rec = Recorder()
    out = run_jobs(MicroBatcher(rec, max_batch=64), {"a": [1, 2, 3], "b": [4], "c": [5, 6]})
    assert rec.sizes == [6]
    assert out["b"][0].argmax(1).tolist() == [4]
    assert out["c"][0].argmax(1).tolist() == [5, 6]


def test_batches_never_exceed_max_batch_and_big_jobs_are_split():
    rec = Recorder()
    out = run_jobs(MicroBatcher(rec, max_batch=4), {"big": list(range(10)), "x": [7, 7]})
    assert max(rec.sizes) <= 4 and sum(rec.sizes) == 12
    assert out["big"][0].argmax(1).tolist() == [i % 10 for i in range(10)]


def test_one_bad_job_does_not_fail_the_others_in_its_batch():
    rec = Recorder(fail_on=9)
    out = run_jobs(MicroBatcher(rec, max_batch=64), {"ok": [1, 2], "bad": [9], "ok2": [3]})
    assert out["bad"][0] is None and isinstance(out["bad"][1], RuntimeError)
    assert out["ok"][1] is None and out["ok"][0].argmax(1).tolist() == [1, 2]
    assert out["ok2"][0].argmax(1).tolist() == [3]


def test_empty_jobs_complete_without_the_model():
    rec = Recorder()
    out = run_jobs(MicroBatcher(rec), {"none": []})
    assert out["none"] == (None, None) and rec.sizes == []


def test_close_finishes_queued_jobs_then_refuses_new_ones():
    rec = Recorder()
    b = MicroBatcher(rec, max_batch=2, max_delay=0)
    results: dict = {}
    for i in range(5):
        b.submit(job_of([i], results, str(i)))
    b.start()
    assert b.close(30)
    assert sorted(results) == ["0", "1", "2", "3", "4"]
    with pytest.raises(BatcherClosed):
        b.submit(job_of([1], results, "late"))


# -- answer core ---------------------------------------------------------------------------
def items(n: int) -> list[CloudItem]:
    return [CloudItem("d", 1, i, frame=Frame(bytes(784), (28, 28))) for i in range(n)]


def test_answers_zip_model_rows_back_onto_items_in_order():
    its = items(3)
    inputs = [core.ItemInput.ok(its[0], np.zeros((28, 28), np.uint8)),
              core.ItemInput.failed(its[1], "bad frame: shape"),
              core.ItemInput.ok(its[2], np.zeros((28, 28), np.uint8))]
    probs = np.array([[0.1, 0.9] + [0] * 8, [0.7, 0.2, 0.1] + [0] * 7], np.float32)
    out = core.answers(inputs, probs)
    assert [(a.seq, a.label, a.error) for a in out] == [(0, 1, None), (1, None, "bad frame: shape"),
                                                         (2, 0, None)]
    assert out[0].confidence == pytest.approx(0.9)
    assert core.stack_pixels(inputs).shape == (2, 28, 28)


def test_answers_refuse_a_model_output_of_the_wrong_length():
    inputs = [core.ItemInput.ok(items(1)[0], np.zeros((28, 28), np.uint8))]
    with pytest.raises(ValueError):
        core.answers(inputs, np.zeros((2, 10), np.float32))


def test_error_texts_are_clipped_to_the_protocol_limit():
    resp = core.error_response("c", "x" * 1000, worker_id="w", model_id="m", model_version=1,
                               worker_ms=1.0, ts_ms=1)
    assert len(resp.error or "") == MAX_TEXT_LENGTH
    assert decode(type(resp), encode(resp)) == resp


def test_transient_failures_make_a_response_uncacheable():
    its = items(2)
    assert core.cacheable([core.ItemInput.failed(its[0], "bad frame")])
    assert not core.cacheable([core.ItemInput.failed(its[1], "s3 down", transient=True)])


def test_ok_response_is_a_valid_wire_message():
    req = CloudRequest("c1", "gw", 1, 100, tuple(items(1)))
    inputs = [core.ItemInput.ok(req.items[0], np.zeros((28, 28), np.uint8))]
    ans = core.answers(inputs, np.eye(10, dtype=np.float32)[[3]])
    resp = core.ok_response(req, worker_id="w", model_id="m", model_version=2, items=ans,
                            worker_ms=-0.0, ts_ms=5)
    assert decode(type(resp), encode(resp)).items[0].label == 3
