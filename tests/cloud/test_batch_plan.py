"""The micro-batcher's decision (:func:`batcher.plan`), pure: any queue, any wait."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgecascade.cloud.batcher import Take, Wait, plan


@given(sizes=st.lists(st.integers(0, 80), min_size=1, max_size=30),
       waited=st.floats(0, 0.02), max_batch=st.integers(1, 64),
       max_delay=st.floats(0.0001, 0.01), closed=st.booleans())
def test_plan_takes_in_order_within_the_batch_or_waits_only_while_it_may(
        sizes, waited, max_batch, max_delay, closed):
    step = plan(sizes, waited, max_batch=max_batch, max_delay=max_delay, closed=closed)
    if isinstance(step, Wait):  # only while short of a batch, young, and open
        assert sum(sizes) < max_batch and waited < max_delay and not closed
        assert step.seconds == pytest.approx(max_delay - waited) and step.seconds > 0
        return
    assert isinstance(step, Take)
    assert sum(sizes) >= max_batch or waited >= max_delay or closed
    taken = sizes[: step.jobs]
    assert step.jobs >= 1  # a job larger than the batch goes alone, never waits
    assert sum(taken) <= max_batch or step.jobs == 1
    if step.jobs < len(sizes):  # stopped only because the next job would not fit
        assert sum(taken) + sizes[step.jobs] > max_batch


def test_plan_needs_a_job():
    with pytest.raises(ValueError):
        plan([], 0.0, max_batch=4, max_delay=0.005)
