"""A backlog is not a flood (issue 24): the gateway away for a minute loses nothing.

20 devices report at 5/s through a real mosquitto while the gateway process is stopped
for 60 s; the broker queues about 6,000 reports in the gateway's persistent session and
hands them over at once when it returns. The gateway runs its shipped trust defaults
(20 new frames/s per device): the rate of a device is judged by its own sequence
numbers and clock, so the backlog is answered in full -- every frame the devices' own
ledger holds gets exactly one final answer, and nothing is refused as rate_limited.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from tests.faults.rig import Rig

DEVICES, RATE, AWAY_S = 20, 5.0, 60.0


def test_gateway_away_sixty_seconds_backlog_answered_in_full(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(workers=0, lift_rate_limits=False, deadline_ms=300).start()
    reports = int(RATE * (AWAY_S + 8))  # ~4 s before the stop, ~4 s after the restart
    fleet = rig.devices(count=DEVICES, rate=RATE, reports=reports)
    time.sleep(4.0)
    before = rig.metrics()
    rig.kill("gateway", signal.SIGTERM)  # a clean stop: its session stays on the broker
    time.sleep(AWAY_S)
    queued = fleet.stats.acked
    rig.start_gateway()
    rig.wait_sent(fleet)
    acc = rig.wait_all_answered(120)
    after = rig.metrics()

    assert acc.made == DEVICES * reports and fleet.stats.dropped == 0, acc.describe()
    assert not acc.missing and not acc.conflicting, acc.describe()
    assert acc.answered == acc.made  # each frame its answer, never two different ones
    for seen in (before, after):
        assert seen.get("ec_gateway_rejected_total{reason=report:rate_limited}", 0) == 0
        assert seen.get("ec_gateway_rejected_total{reason=report:seq_ahead}", 0) == 0
    # the backlog really was one: most of the frames waited on the broker for the gateway
    assert queued - before["ec_gateway_reports_total"] > DEVICES * RATE * (AWAY_S - 10)
    assert after["ec_gateway_site_session_present"] == 1  # the session held the backlog
