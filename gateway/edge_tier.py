"""The edge tier's shell: frames to the dynamic batcher and answers back, a batch at a time.

The hand-off costs per batch, not per frame, both ways: the edge frames one core step
decided on are queued with one ``submit_many`` (a frame the queue no longer has room for
is decided again, queue full), and the answers of one model run come back in one
``on_batch`` call and are folded into the core in one step (one lock, one effect pass).
A frame whose completion fails is logged and left to its deadline (a degraded answer
then): the other frames of its batch are answered as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from edgecascade.models.fusion import NO_FUSION, Fusion, fuse_edge, report_probs

from .cache import Answer
from .edge import EdgeAnswer
from .effects import EdgeOutcome, Effect, FrameJob, Now, frame_id
from .model_swap import Stamped, run_batch
from .site import now_ms

if TYPE_CHECKING:
    from .service import Gateway

log = logging.getLogger("edgecascade.gateway")


def fused_edge(job: FrameJob, ans: EdgeAnswer, fusion: Fusion
               ) -> tuple[int, float, float, bool]:
    """The edge stage's (label, confidence, margin, fused): the edge model's own, or where
    calibration chose fusion (issue 22) the pool of its scaled distribution with the
    device's top-k as reported (models/fusion.py)."""
    if not fusion.edge_fused or ans.probs is None:
        return ans.label, ans.confidence, ans.margin, False
    p = np.asarray(ans.probs, dtype=np.float64)
    wire = report_probs(job.report.classes, job.report.confidences, p.shape[-1])
    pooled = fuse_edge(wire, p[None, :], fusion)[0]
    order = np.argsort(pooled)
    top, second = pooled[order[-1]], pooled[order[-2]] if len(order) > 1 else 0.0
    return int(order[-1]), float(top), float(top - second), True


class EdgeTier:
    def __init__(self, gw: Gateway, fusion: Fusion = NO_FUSION) -> None:
        self.gw = gw
        self.fusion = fusion  # the edge stage's, as calibrated (issue 22)

    def run(self, jobs: list[FrameJob]) -> list[Stamped]:
        """The batcher's batch function (its thread): the model on a batch of frames."""
        gw = self.gw
        model = gw.edge  # once per batch: a swap during the run does not relabel it
        assert model is not None and gw.batcher is not None
        gw.metrics.batch_size.observe(len(jobs))
        gw.metrics.set("edge_queue_depth", gw.batcher.depth)
        return run_batch(model, jobs)

    def submit(self, jobs: list[FrameJob]) -> None:
        """Queue a step's edge frames at once; those that no longer fit are re-decided.
        Audits (issue 22) go last, and only while the queue is below its audit share."""
        gw = self.gw
        audits = [j for j in jobs if j.audit]
        if audits:
            jobs = [j for j in jobs if not j.audit]
        if gw.batcher is None:
            for _ in audits:
                gw.field.audit_dropped()
            return
        taken = gw.batcher.submit_many(jobs)
        for job in jobs[taken:]:  # filled up since the snapshot
            gw.step(partial(gw.core.edge_refused, job=job, snapshot=gw.snapshot(job.report),
                            last=gw.last_answer(job)))
        if audits:
            room = int(gw.batcher.capacity * gw.cfg.monitoring.audit_queue_share) - \
                gw.batcher.depth
            taken = gw.batcher.submit_many(audits[:max(room, 0)])
            for _ in audits[taken:]:
                gw.field.audit_dropped()

    def on_batch(self, jobs: list[FrameJob],
                 results: Sequence[Stamped | BaseException]) -> None:
        """A model run's answers (the batcher's thread): one core step for the batch."""
        done: list[tuple[FrameJob, EdgeOutcome]] = []
        for job, result in zip(jobs, results, strict=True):
            if job.audit:
                self.gw.field.audited(job.report, None if isinstance(result, BaseException)
                                      else result.answer.label)
                continue
            try:
                done.append((job, self._outcome(job, result)))
            except Exception:
                log.exception("edge completion failed", extra={"frame": frame_id(job.key)})
        if done:
            self.gw.step(lambda now: self._fold(now, done))

    def _fold(self, now: Now, done: list[tuple[FrameJob, EdgeOutcome]]) -> list[Effect]:
        out: list[Effect] = []
        for job, outcome in done:
            try:
                out += self.gw.core.edge_done(now, job, outcome)
            except Exception:
                log.exception("edge completion failed", extra={"frame": frame_id(job.key)})
        return out

    def _outcome(self, job: FrameJob, result: Stamped | BaseException) -> EdgeOutcome:
        gw = self.gw
        answer: Answer | None = None
        margin = 0.0
        if isinstance(result, BaseException):
            gw.metrics.inc("edge_errors")
            log.error("edge model failed", extra={"frame": frame_id(job.key),
                                                  "error": str(result)[:200]})
        else:  # named by the model that ran this batch
            label, conf, margin, fused = fused_edge(job, result.answer, self.fusion)
            answer = Answer(label, conf, "edge", result.model_id, result.model_version,
                            now_ms(), fused)
        return EdgeOutcome(answer, margin, gw.snapshot(job.report), gw.last_answer(job))
