"""The issue's gateway-side attacks replayed against a real gateway (its trust checks).

The broker here is open (as the attacker of the issue had it) so the gateway's own checks
are what is tested; the secure broker's ACLs are tested in test_site_broker.py.
"""

from __future__ import annotations

import logging

from edgecascade.gateway.service import Gateway
from edgecascade.gateway.trust import (
    RATE_LIMITED,
    SEQ_AHEAD,
    UNKNOWN_BIRTH,
    UNKNOWN_DEVICE,
    Trust,
    TrustSettings,
)
from edgecascade.protocol import DeviceState, Result, TopicKind, decode, encode
from tests.gateway.conftest import decoded_results
from tests.gateway.support import make_config, report
from tests.support import Collector, publish

REAL = ("d1", "d2", "d3")


def _start(tmp_path, broker, topics, closing, **settings) -> Gateway:
    trust = Trust(TrustSettings(allowlist=frozenset(REAL), **settings))
    gw = Gateway(make_config(tmp_path, broker.url, topics, with_edge=False), trust=trust)
    gw.start()
    closing.append(gw)
    return gw


def _birth(device: str) -> bytes:
    return encode(DeviceState(device_id=device, online=True, ts_ms=1))


def test_invented_ids_create_no_state(tmp_path, broker, topics, closing, results, caplog):
    gw = _start(tmp_path, broker, topics, closing)
    configs = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_CONFIG)])
    closing.append(configs)
    caplog.set_level(logging.WARNING, logger="edgecascade.gateway")
    invented = [f"fake{i}" for i in range(600)]
    publish(broker.host, broker.port,
            [(topics.device_report(d), encode(report(d, 1, confident=True))) for d in invented]
            + [(topics.device_state(d), _birth(d)) for d in invented[:300]], retain=False)
    publish(broker.host, broker.port, [(topics.device_state("d1"), _birth("d1"))])
    publish(broker.host, broker.port, [(topics.device_report("d1"),
                                        encode(report("d1", 1, confident=True)))])
    results.wait_for(1, 30)
    configs.wait_for(1, 30)
    assert {r.device_id for r in decoded_results(results)} == {"d1"}
    assert {m.topic for m in configs.messages} == {topics.device_config("d1")}
    assert gw.ledger is not None and not any(gw.ledger.has_epoch(d) for d in invented)
    assert gw.metrics.value("rejected", reason=UNKNOWN_DEVICE) == 600
    assert gw.metrics.value("rejected", reason=UNKNOWN_BIRTH) == 300
    warnings = [r for r in caplog.records if r.getMessage() == "report rejected"]
    assert 1 <= len(warnings) <= 4  # not 900 lines: one per reason, then counted


def test_forged_future_seqs_do_not_take_over_real_frames(tmp_path, broker, topics, closing,
                                                         results):
    gw = _start(tmp_path, broker, topics, closing)
    real = [report("d1", s, confident=True) for s in range(10)]
    forged = [report("d1", 10_000 + k, confident=True) for k in range(30)]
    later = [report("d1", s, confident=True) for s in range(10, 40)]
    publish(broker.host, broker.port,
            [(topics.device_report("d1"), encode(r)) for r in (*real, *forged, *later)])
    results.wait_for(40, 30)
    got = decoded_results(results)
    assert sorted(r.seq for r in got) == list(range(40))  # every real frame its own answer
    assert gw.metrics.value("duplicates") == 0
    # the first jump is seq_ahead; the forger's stream after it is too fast: rate_limited
    assert gw.metrics.value("rejected", reason=SEQ_AHEAD) >= 1
    assert (gw.metrics.value("rejected", reason=SEQ_AHEAD)
            + gw.metrics.value("rejected", reason=RATE_LIMITED)) == 30


def test_flooding_device_is_dropped_and_counted_the_others_answered(tmp_path, broker, topics,
                                                                    closing, results):
    gw = _start(tmp_path, broker, topics, closing, rate_per_s=5.0, max_seq_ahead=20)
    flood = [(topics.device_report("d3"), encode(report("d3", s, confident=True)))
             for s in range(500)]
    polite = [(topics.device_report(d), encode(report(d, s, confident=True)))
              for s in range(10) for d in ("d1", "d2")]
    mixed = [x for pair in zip(flood[:20], polite, strict=True) for x in pair] + flood[20:]
    publish(broker.host, broker.port, mixed)
    results.wait_for(20, 30)
    publish(broker.host, broker.port, [(topics.device_report("d1"),
                                        encode(report("d1", 10, confident=True)))])
    barrier = topics.result("d1")
    results.wait_for(1, 30, where=lambda m: m.topic == barrier
                     and decode(Result, m.payload).seq == 10)  # everything before is handled
    got = decoded_results(results)
    answered = {(r.device_id, r.seq) for r in got}
    assert {(d, s) for s in range(10) for d in ("d1", "d2")} <= answered
    flooded = sum(1 for r in got if r.device_id == "d3")
    dropped = gw.metrics.value("rejected", reason=RATE_LIMITED)
    assert dropped >= 400 and flooded + dropped == 500
