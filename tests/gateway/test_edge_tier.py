"""The edge tier's hand-off (:mod:`edgecascade.gateway.edge_tier`): per batch both ways.

Against a fake gateway (``FakeGateway``, a seam we own) around a real
:class:`~edgecascade.gateway.batcher.DynamicBatcher` queue: one ``submit_many`` per core
step, the frames that do not fit decided again, and one core step per model run in
which a frame whose completion fails does not cost the others their answers.
"""

from __future__ import annotations

from typing import Any

from edgecascade.gateway.batcher import DynamicBatcher
from edgecascade.gateway.edge import EdgeAnswer
from edgecascade.gateway.edge_tier import EdgeTier
from edgecascade.gateway.effects import Count, FrameJob
from edgecascade.gateway.model_swap import Stamped
from edgecascade.protocol import Report


def job(seq: int) -> FrameJob:
    report = Report(device_id="d1", epoch=1, seq=seq, ts_ms=1, model_id="m",
                    model_version=1, classes=(1,), confidences=(30000,))
    return FrameJob(report, 0.0, 0, None)


class FakeCore:
    def __init__(self) -> None:
        self.done: list[int] = []
        self.refused: list[int] = []

    def edge_done(self, now: object, job: FrameJob, outcome: Any) -> list[Any]:
        if job.report.seq == 13:
            raise RuntimeError("unlucky frame")
        self.done.append(job.report.seq)
        return [Count("edge_answered")]

    def edge_refused(self, now: object, job: FrameJob, snapshot: object,
                     last: object) -> list[Any]:
        self.refused.append(job.report.seq)
        return []


class FakeMetrics:
    def inc(self, *a: object, **k: object) -> None:
        pass


class FakeGateway:
    def __init__(self, capacity: int) -> None:
        self.core = FakeCore()
        self.metrics = FakeMetrics()
        self.steps: list[list[Any]] = []  # the effects of each core step
        self.batcher: DynamicBatcher[FrameJob, Stamped] = DynamicBatcher(
            lambda jobs: [], on_batch=lambda jobs, results: None, capacity=capacity)
        self.submits = 0
        real = self.batcher.submit_many

        def counted(items: Any) -> int:
            self.submits += 1
            return real(items)

        self.batcher.submit_many = counted  # type: ignore[method-assign]

    def step(self, call: Any) -> None:
        self.steps.append(call(0))

    def snapshot(self, report: Report) -> str:
        return "snap"

    def last_answer(self, job: FrameJob) -> None:
        return None


def test_a_steps_edge_frames_go_in_one_submit_and_the_overflow_is_decided_again() -> None:
    gw = FakeGateway(capacity=3)
    EdgeTier(gw).submit([job(i) for i in range(5)])  # type: ignore[arg-type]
    assert gw.submits == 1
    assert gw.batcher.depth == 3  # the queue took what fit
    assert gw.core.refused == [3, 4]


def test_a_model_runs_answers_are_one_core_step_and_one_bad_frame_costs_only_itself() -> None:
    gw = FakeGateway(capacity=16)
    stamped = Stamped(EdgeAnswer(7, 0.9, 0.5), "edge-m", 2)
    jobs = [job(11), job(12), job(13), job(14)]
    EdgeTier(gw).on_batch(jobs, [stamped, RuntimeError("model failed"), stamped, stamped])  # type: ignore[arg-type]
    assert len(gw.steps) == 1  # one step for the whole batch
    assert gw.core.done == [11, 12, 14]  # 12: the model's error is its outcome; 13 raised
    assert len(gw.steps[0]) == 3
