"""A canary rollout decided by the gateway's [rollout] rule, end to end: real gateway,
mosquitto, emulated devices with the real interpreter.
"""

from __future__ import annotations

from pathlib import Path

from edgecascade.emulator.core import DeviceCore
from edgecascade.emulator.device import VirtualDevice
from edgecascade.emulator.driver import Driver
from edgecascade.emulator.model import FrameSource, device_thresholds
from edgecascade.emulator.ota_agent import FileSlots, OtaAgent
from edgecascade.gateway.models_rollout import CanaryRule
from edgecascade.models.registry import MODELS_DIR
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import Report, TopicKind, decode
from edgecascade.protocol.ota_messages import ModelManifest, OtaStatus
from edgecascade.tools.models.deploy import (
    Release,
    build_release,
    canary_targets,
    publish_release,
)
from edgecascade.tools.models.variant import write_variant
from tests.support import Collector

V1 = MODELS_DIR / "mnist-mcu.tflite"
V2_ARENA = 29_776  # measured: tools/models/arena_probe.min_arena_bytes(v2)


def _fleet(broker, topics, tmp_path: Path, n: int) -> tuple[list[VirtualDevice], Driver]:
    source, th = FrameSource(), device_thresholds()
    devices = []
    for i in range(n):
        core = DeviceCore(f"can-{i:02d}", source, 1, th)
        agent = OtaAgent(core, topics, FileSlots(tmp_path / core.device_id))
        devices.append(VirtualDevice(core, BrokerSettings(broker.url), topics, ota=agent))
    return devices, Driver(devices, rate=20)


def _release(path: Path, version: int, conf: float, devices: tuple[str, ...] = ()) -> Release:
    th = device_thresholds()
    return build_release(path.read_bytes(), model_id="mnist-mcu", version=version, tier="mcu",
                         arena_bytes=16128 if version == 1 else V2_ARENA, conf_threshold=conf,
                         margin_threshold=th.device_margin, complexity_limit=th.complexity_limit,
                         devices=devices)


def test_a_good_canary_is_promoted_to_the_whole_fleet(broker, topics, start_gateway, responder,
                                                      closing, tmp_path: Path):
    devices, driver = _fleet(broker, topics, tmp_path, 8)
    ids = [d.device_id for d in devices]
    canaries = canary_targets(ids, 0.25)
    reports = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_REPORT)])
    closing.append(reports)
    start_gateway(broker.url, topics, rollout=CanaryRule(min_frames=20, max_leave_increase=0.3,
                                                         max_agreement_drop=0.3))
    driver.start()
    closing.append(type("S", (), {"stop": lambda self: (driver.stop(5), driver.join(10))})())
    reports.wait_for(20, 60)
    v2 = write_variant(V1, tmp_path / "v2.tflite")
    publish_release(broker.url, topics, _release(v2, 2, device_thresholds().device_confidence,
                                                 canaries))

    def v2_from(device: str):  # type: ignore[no-untyped-def]
        return lambda m: decode(Report, m.payload).device_id == device and \
            decode(Report, m.payload).model_version == 2

    for d in ids:  # the gateway promoted the canary: every device runs v2
        reports.wait_for(1, 120, where=v2_from(d))
    state = Collector(broker.host, broker.port, [topics.model_manifest("mcu")])
    closing.append(state)
    m = decode(ModelManifest, state.wait_for(1, 10)[0].payload)
    assert (m.version, m.devices) == (2, ())


def test_a_bad_canary_is_rolled_back_to_the_previous_version(broker, topics, start_gateway,
                                                             responder, closing, tmp_path: Path):
    devices, driver = _fleet(broker, topics, tmp_path, 8)
    ids = [d.device_id for d in devices]
    canaries = canary_targets(ids, 0.25)
    ota = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_OTA)])
    closing.append(ota)
    start_gateway(broker.url, topics, rollout=CanaryRule(min_frames=20, max_leave_increase=0.1,
                                                         max_agreement_drop=0.3))
    publish_release(broker.url, topics, _release(V1, 1, device_thresholds().device_confidence))
    driver.start()
    closing.append(type("S", (), {"stop": lambda self: (driver.stop(5), driver.join(10))})())
    v2 = write_variant(V1, tmp_path / "v2.tflite")
    # v2's thresholds send every frame off the device: the canaries' leave share jumps
    publish_release(broker.url, topics, _release(v2, 2, 1.0, canaries))

    def back_on_v1(m) -> bool:  # type: ignore[no-untyped-def]
        s = decode(OtaStatus, m.payload)
        return s.state == "applied" and s.version == 1

    got = ota.wait_for(len(canaries), 120, where=back_on_v1)
    assert {decode(OtaStatus, m.payload).device_id for m in got} == set(canaries)
    assert all(d.core.source.model_version == 1 for d in devices)
