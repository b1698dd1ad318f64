"""Audits end to end (issue 22): real mosquitto, the real gateway and edge model.

A confident report that carries its frame (a device's audit, DeviceConfig.audit_share)
is answered by the device at once, as any confident report; the edge model then answers
the frame only to measure agreement. The answer never changes; audits have their own
counters; the live-accuracy state and gauges follow."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from edgecascade.gateway.config import MonitoringConfig
from edgecascade.gateway.edge import TFLiteEdgeModel
from edgecascade.gateway.service import Gateway
from edgecascade.protocol import DeviceConfig, DeviceState, Metrics, TopicKind, decode, encode
from edgecascade.protocol.audit import share_to_wire
from tests.gateway.conftest import decoded_results
from tests.gateway.support import EDGE_MODEL, THRESHOLDS, images, report
from tests.support import Collector, publish


def wait_until(check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _edge_labels(indices: list[int]) -> list[int]:
    imgs, _ = images()
    model = TFLiteEdgeModel(str(EDGE_MODEL))
    return [a.label for a in model.classify(imgs[indices])]


def test_audited_frames_are_measured_and_never_change_the_answer(
        broker, topics, start_gateway, results, closing) -> None:
    configs = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_CONFIG)])
    metrics = Collector(broker.host, broker.port, [topics.gateway_metrics("gw1")])
    closing += [configs, metrics]
    mon = MonitoringConfig(audit_share=0.25, reference=str(THRESHOLDS))
    gw: Gateway = start_gateway(broker.url, topics, monitoring=mon)
    # a device without an epoch gets one, with the audit share
    publish(broker.host, broker.port,
            [(topics.device_state("d1"), encode(DeviceState(device_id="d1", online=True,
                                                            ts_ms=1)))])
    cfg = decode(DeviceConfig, configs.wait_for(1, 30)[0].payload)
    assert cfg.audit_share == share_to_wire(0.25)
    # a device that keeps its own epoch gets the audit share too, once, without an epoch
    own = DeviceState(device_id="d2", online=True, ts_ms=1, epoch=5)
    publish(broker.host, broker.port, [(topics.device_state("d2"), encode(own))] * 2)
    def for_d2(m) -> bool:  # type: ignore[no-untyped-def]
        return m.topic == topics.device_config("d2")

    got = configs.wait_for(1, 30, where=for_d2)
    d2 = decode(DeviceConfig, got[0].payload)
    assert (d2.epoch, d2.audit_share) == (None, share_to_wire(0.25))

    _, labels = images()
    threes = [int(i) for i in np.flatnonzero(labels == 3)[:6]]
    others = [int(i) for i in np.flatnonzero(labels != 3)[:6]]
    picked = threes + others
    edge = _edge_labels(picked)
    reports = [replace(report("d1", seq + 1, confident=True, image=i), model_version=1)
               for seq, i in enumerate(picked)]  # the device says 3 every time, sure of it
    reports.append(report("d1", 99, confident=True))  # no frame: nothing to audit
    publish(broker.host, broker.port, [(topics.device_report("d1"), encode(r))
                                       for r in reports])
    results.wait_for(len(reports), 30)
    res = decoded_results(results)
    assert {(r.tier, r.reason, r.label, r.revision) for r in res} == \
        {("device", "confident", 3, 0)}
    agree = sum(lbl == 3 for lbl in edge)
    wait_until(lambda: gw.metrics.value("audits", pair="device~edge", outcome="agree") +
               gw.metrics.value("audits", pair="device~edge", outcome="disagree")
               == len(picked), 30)
    assert gw.metrics.value("audits", pair="device~edge", outcome="agree") == agree
    assert len(decoded_results(results)) == len(reports)  # the audits published nothing

    state = gw.field.state()
    json.dumps(state, allow_nan=False)
    d1 = state["devices"]["d1"]
    assert d1["agreement"]["device~edge"]["n"] == len(picked)
    assert d1["agreement"]["device~edge"]["estimate"] == round(agree / len(picked), 5)
    assert d1["tiers"]["device"]["share"] == 1.0
    site = state["live_accuracy"]["estimate"]
    assert site["n"] == len(reports) and site["lo"] <= site["estimate"] <= site["hi"]
    # the gauges reach the retained metrics message (finite floats only)
    def published() -> bool:
        msgs = [decode(Metrics, m.payload) for m in list(metrics.messages)]
        return any(m.values.get("ec_gateway_live_accuracy_answers", 0) == len(reports)
                   for m in msgs)

    wait_until(published, 30)
    assert len([m for m in configs.messages if for_d2(m)]) == 1  # the second birth: none
    # the audit sample for `models calibrate --from-audit`: the picked reports' frames
    from edgecascade.protocol.audit import audit_pick

    store = gw.field.store
    assert store is not None
    picked_reports = [r for r in reports if r.frame is not None
                      and audit_pick(r.device_id, r.epoch, r.seq, share_to_wire(0.25))]
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{gw.http_port}/monitoring",
                                timeout=10) as r:
        served = json.loads(r.read())
    assert served["devices"]["d1"]["agreement"]["device~edge"]["n"] == len(picked)
    assert served["audits"]["agree"] == agree and served["estimate_valid"] is True
    assert picked_reports and [f.report.seq for f in store.frames()] == \
        [r.seq for r in picked_reports]
