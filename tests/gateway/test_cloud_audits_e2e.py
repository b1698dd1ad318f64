"""Cloud audits of the edge's answers (issue 22): real mosquitto, gateway, edge model and a
cloud responder seam. A budgeted share of the frames the edge answered is also sent to
the cloud, only to measure: the reply never becomes a correction, is counted in its own
cost line, and feeds the edge~cloud agreement; past the budget, audits are dropped."""

from __future__ import annotations

import time

from edgecascade.gateway.config import MonitoringConfig
from edgecascade.protocol import encode
from edgecascade.protocol.audit import audit_pick, share_to_wire
from tests.gateway.conftest import decoded_results
from tests.gateway.support import THRESHOLDS, edge_split, report
from tests.support import publish


def _wait(check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_edge_answers_audited_by_the_cloud_never_change(broker, topics, start_gateway,
                                                        responder, results) -> None:
    sure, _ = edge_split()
    share = 0.5
    mon = MonitoringConfig(audit_cloud_share=share, audit_cloud_messages=1000.0,
                           reference=str(THRESHOLDS))
    gw = start_gateway(broker.url, topics, monitoring=mon)
    reps = [report("d1", seq + 1, confident=False, image=i) for seq, i in enumerate(sure[:12])]
    picked = [r for r in reps if audit_pick(r.device_id, r.epoch, r.seq, share_to_wire(share))]
    assert 0 < len(picked) < len(reps)
    publish(broker.host, broker.port, [(topics.device_report("d1"), encode(r)) for r in reps])
    results.wait_for(len(reps), 30)
    _wait(lambda: gw.field.state()["cloud_audits"]["agree"] +
          gw.field.state()["cloud_audits"]["disagree"] == len(picked), 30)
    assert responder.items_seen() == len(picked)  # the picked edge answers, nothing else
    time.sleep(0.5)  # a correction would have followed the cloud replies by now
    res = decoded_results(results)
    assert len(res) == len(reps) and {(r.tier, r.revision) for r in res} == {("edge", 0)}
    assert gw.metrics.value("corrections") == 0
    # the responder says 7 to everything: agreement is the edge's 7s among the picked
    sevens = sum(r.label == 7 for r in res if any(p.seq == r.seq for p in picked))
    assert gw.metrics.value("audits", pair="edge~cloud", outcome="agree") == sevens
    assert gw.metrics.value("audit_cloud_cost") > 0
    ag = gw.field.state()["live_accuracy"]["agreement"]["edge~cloud"]
    assert ag["n"] == len(picked)


def test_cloud_audits_stop_at_their_budget(broker, topics, start_gateway, responder,
                                           results) -> None:
    sure, _ = edge_split()
    mon = MonitoringConfig(audit_cloud_share=0.5, audit_cloud_messages=0.0,
                           reference=str(THRESHOLDS))
    gw = start_gateway(broker.url, topics, monitoring=mon)
    reps = [report("d2", seq + 1, confident=False, image=i) for seq, i in enumerate(sure[:12])]
    picked = [r for r in reps if audit_pick(r.device_id, r.epoch, r.seq, share_to_wire(0.5))]
    publish(broker.host, broker.port, [(topics.device_report("d2"), encode(r)) for r in reps])
    results.wait_for(len(reps), 30)
    _wait(lambda: gw.metrics.value("audits", pair="edge~cloud", outcome="dropped")
          == len(picked), 30)
    assert responder.items_seen() == 0
