"""A virtual device against a real mosquitto: bytes, birth/will, config, ring buffer."""

from __future__ import annotations

import math

import msgpack
import numpy as np

from edgecascade.emulator.fleet import Fleet
from edgecascade.emulator.ledger import GroundTruth
from edgecascade.emulator.model import FrameSource
from edgecascade.emulator.policy import Thresholds
from edgecascade.models.micro import MicroRunner
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import (
    DeviceConfig,
    DeviceState,
    Frame,
    Report,
    TopicKind,
    Topics,
    confidence_to_wire,
    decode,
    encode,
)
from tests.emulator.helpers import PersistentSubscriber, wait_until
from tests.support import Collector, publish

NEVER_ATTACH = Thresholds(0.0, 0.0, math.inf)
ALWAYS_ATTACH = Thresholds(1.0, 0.0, math.inf)


def expected_report(source: FrameSource, got: Report, index: int, th: Thresholds) -> Report:
    """The report the firmware would send, rebuilt independently of the emulator's code:
    the models package's runner for probabilities, the protocol codec for the bytes."""
    runner = MicroRunner(source.path)
    pixels = source.images[index]
    probs = runner.predict(pixels[None])[0]
    wire = [confidence_to_wire(float(p)) for p in probs]
    order = sorted(range(len(wire)), key=lambda i: (-wire[i], i))[:3]
    conf = [wire[i] for i in order]
    comp = float(np.float32(np.abs(pixels.astype(int) - source.mean.astype(int)).sum())
                 / np.float32(784 * 255))
    unsure = (conf[0] < confidence_to_wire(th.device_confidence)
              or conf[0] - conf[1] < confidence_to_wire(th.device_margin)
              or comp > th.complexity_limit)
    frame = Frame((pixels.astype(np.int16) - 128).astype(np.int8).tobytes(), (28, 28, 1),
                  "int8", 1 / 255, -128) if unsure else None
    return Report(got.device_id, got.epoch, got.seq, got.ts_ms, "mnist-mcu", 1,
                  tuple(order), tuple(conf), frame, comp)


def test_reports_are_the_firmware_bytes(broker, topics, source):
    th = Thresholds(0.99, 0.3, math.inf)
    col = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_REPORT)])
    fleet = Fleet(BrokerSettings(broker.url), topics, 2, rate=50, reports=15, source=source,
                  thresholds=th).start()
    try:
        col.wait_for(30, timeout=30)
    finally:
        stats = fleet.stop()
        col.close()
    assert stats.acked == stats.made == 30
    attached = 0
    for msg in col.messages:
        report = decode(Report, msg.payload)
        assert msg.topic == topics.device_report(report.device_id)
        truth = fleet.ledger.get(report.key)
        assert truth is not None, report.key
        want = expected_report(source, report, truth.index, th)
        assert msg.payload == encode(want), (report.to_plain(), want.to_plain())
        attached += report.frame is not None
    assert 0 < attached < 30  # both paths were exercised


def test_birth_retained_and_will_on_crash(broker, topics, source):
    live = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_STATE)])
    fleet = Fleet(BrokerSettings(broker.url), topics, 1, rate=0, source=source).start()
    birth = decode(DeviceState, live.wait_for(1, timeout=20)[0].payload)
    assert birth.online and birth.device_id == "emu-0000" and birth.model_id == "mnist-mcu"
    late = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_STATE)])
    retained = late.wait_for(1, timeout=10)[0]
    assert retained.retain and decode(DeviceState, retained.payload).online
    fleet.stop(crash=True)
    will = live.wait_for(2, timeout=30)[1]
    death = decode(DeviceState, will.payload)
    assert not death.online and death.epoch == birth.epoch
    live.close()
    late.close()


def test_config_changes_attach_decisions_and_bad_config_is_counted(broker, topics, source):
    col = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_REPORT)])
    fleet = Fleet(BrokerSettings(broker.url), topics, 1, rate=40, source=source,
                  thresholds=NEVER_ATTACH).start()
    try:
        col.wait_for(5, timeout=20)
        assert all(decode(Report, m.payload).frame is None for m in col.messages)
        cfg_topic = topics.device_config("emu-0000")
        # out of range: the codec refuses it on the device; counted, thresholds kept
        bad = msgpack.packb({0: 1, 1: 9, 2: 1.5, 3: 0.0, 4: 0.0}, use_single_float=True)
        publish(broker.host, broker.port, [(cfg_topic, bad), (cfg_topic, b"\xc1garbage")])
        wait_until(lambda: fleet.stats.config_rejected == 2, what="rejections")
        assert fleet.devices[0].core.thresholds == NEVER_ATTACH
        good = DeviceConfig(revision=10, conf_threshold=1.0, margin_threshold=0.0,
                            complexity_limit=1e9, epoch=777)
        publish(broker.host, broker.port, [(cfg_topic, encode(good))], retain=True)
        wait_until(lambda: fleet.stats.config_applied >= 1, what="config applied")
        col.wait_for(5, timeout=20, where=lambda m: decode(Report, m.payload).epoch == 777)
    finally:
        fleet.stop()
        col.close()
    after = [decode(Report, m.payload) for m in col.messages]
    new = [r for r in after if r.epoch == 777]
    assert [r.seq for r in new][:3] == [0, 1, 2]  # a new session starts at seq 0
    assert all(r.frame is not None for r in new)  # conf 1.0: every frame attached


def test_ring_buffers_while_broker_away_and_drains_in_order(broker, topics, source):
    sub = PersistentSubscriber(broker.host, broker.port, topics.filter(TopicKind.DEVICE_REPORT))
    fleet = Fleet(BrokerSettings(broker.url), topics, 1, rate=40, source=source,
                  ring_capacity=8).start()
    try:
        wait_until(lambda: fleet.stats.acked >= 5, what="first acks")
        broker.stop()
        made_at_stop = fleet.stats.made
        wait_until(lambda: fleet.stats.made >= made_at_stop + 30, what="reports while away")
        assert fleet.stats.dropped > 0  # more than 8 made while away: counted drops
        broker.start()
        wait_until(lambda: fleet.stats.connects >= 2 and fleet.stats.buffered == 0
                   and fleet.stats.inflight == 0, timeout=40, what="drain")
    finally:
        stats = fleet.stop()
    try:
        wait_until(lambda: len({decode(Report, p).seq for p in sub.snapshot()}) >= stats.acked,
                   timeout=30, what="subscriber caught up")
    except AssertionError:
        got = sorted({decode(Report, p).seq for p in sub.snapshot()})
        raise AssertionError(f"{stats.summary()} got {len(got)}: {got}") from None
    sub.close()
    seqs: list[int] = []
    for p in sub.snapshot():  # QoS 1 may repeat a message; first sightings must be in order
        seq = decode(Report, p).seq
        if seq not in seqs:
            seqs.append(seq)
    assert seqs == sorted(seqs)
    # every report made was delivered, or dropped by the ring and counted
    assert len(seqs) + stats.dropped == stats.made, stats.summary()


def test_fleet_of_fifty_all_acked(broker, topics, source, tmp_path):
    col = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_REPORT)])
    fleet = Fleet(BrokerSettings(broker.url), topics, 50, rate=10, reports=4, source=source,
                  state_file=tmp_path / "state.json").start()
    try:
        col.wait_for(200, timeout=60)
    finally:
        stats = fleet.stop()
        col.close()
    assert stats.made == stats.sent == stats.acked == 200
    assert stats.dropped == 0 and stats.driver_errors == 0
    keys = {decode(Report, m.payload).key for m in col.messages}
    assert len(keys) == 200 and all(fleet.ledger.get(k) is not None for k in keys)
    # the state file gives the next start of the same devices a new epoch
    again = Fleet(BrokerSettings(broker.url), Topics(topics.prefix), 1, rate=0, source=source,
                  state_file=tmp_path / "state.json")
    assert again.devices[0].core.epoch == fleet.devices[0].core.epoch + 1


class FailingLedger(GroundTruth):
    """A fake at our own seam: the ledger fails for one device (say, its disk is full)."""

    def record(self, device_id: str, epoch: int, seq: int, label: int, index: int) -> None:
        if device_id == "emu-0001":
            raise OSError("disk full")
        super().record(device_id, epoch, seq, label, index)


def test_one_failing_device_does_not_stop_the_others(broker, topics, source):
    fleet = Fleet(BrokerSettings(broker.url), topics, 2, rate=20, reports=5, source=source,
                  ledger=FailingLedger()).start()
    try:
        wait_until(lambda: fleet.stats.acked == 10, what="both devices' reports acked")
    finally:
        stats = fleet.stop()
    assert stats.driver_errors == 5  # every failed ledger write counted and logged
    assert len(fleet.ledger) == 5  # only the healthy device's truth was kept
