"""Done when (issue 14): a fleet of emulated devices goes from mcu model v1 to v2 over the
air through a real gateway and mosquitto. One device gets a corrupted download, one has
an arena too small for v2: those two keep v1 and say why; all others run v2; every
report made is answered exactly once, and every result names the model that produced it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecascade.emulator.core import DeviceCore
from edgecascade.emulator.device import VirtualDevice
from edgecascade.emulator.driver import Driver
from edgecascade.emulator.model import FrameSource, device_thresholds
from edgecascade.emulator.ota_agent import FileSlots, OtaAgent
from edgecascade.models.registry import MODELS_DIR
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import DeviceState, Report, TopicKind, decode
from edgecascade.protocol.ota_messages import OtaStatus
from edgecascade.tools.models.arena_probe import min_arena_bytes
from edgecascade.tools.models.deploy import build_release, publish_release
from edgecascade.tools.models.variant import write_variant
from tests.gateway.conftest import decoded_results
from tests.support import Collector

V1 = MODELS_DIR / "mnist-mcu.tflite"
#: The emulated boards' arena (the mcu budget) and the small board's (the ESP32 app's).
ARENA = 32 * 1024
SMALL_ARENA = 24 * 1024


class CorruptingSlots(FileSlots):
    """A board whose flash writes flip one bit of the first chunk (a fault injected here)."""

    def write(self, slot: int, offset: int, data: bytes) -> None:
        if offset == 0:
            data = bytes([data[0] ^ 0x01]) + data[1:]
        super().write(slot, offset, data)


def test_fleet_rolls_from_v1_to_v2_and_the_two_that_cannot_keep_v1(
        broker, topics, start_gateway, responder, results, closing, tmp_path: Path):
    v2 = write_variant(V1, tmp_path / "mnist-mcu-v2.tflite")
    arena_v2 = min_arena_bytes(v2)
    assert SMALL_ARENA < arena_v2 <= ARENA  # v2 is really too big for the small board

    source = FrameSource()
    assert (source.model_id, source.model_version) == ("mnist-mcu", 1)
    th = device_thresholds()
    settings = BrokerSettings(broker.url)
    devices, agents = [], {}
    installed: dict = {}  # one interpreter per installed model, shared by the fleet
    for i in range(6):
        did = f"ota-{i:02d}"
        core = DeviceCore(did, source, 1, th)
        slots_cls = CorruptingSlots if did == "ota-01" else FileSlots
        agent = OtaAgent(core, topics, slots_cls(tmp_path / did),
                         arena_bytes=SMALL_ARENA if did == "ota-02" else ARENA,
                         sources=installed)
        agents[did] = agent
        devices.append(VirtualDevice(core, settings, topics, ota=agent))
    reports = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_REPORT)])
    ota_status = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_OTA)])
    births = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_STATE)])
    closing.extend([reports, ota_status, births])
    start_gateway(broker.url, topics)
    driver = Driver(devices, rate=20)
    driver.start()
    reports.wait_for(30, 60)  # the fleet is answering with v1

    release = build_release(
        v2.read_bytes(), model_id="mnist-mcu", version=2, tier="mcu", arena_bytes=arena_v2,
        conf_threshold=0.85, margin_threshold=0.2, complexity_limit=th.complexity_limit)
    assert len(release.chunks) == release.manifest.chunks > 1
    assert all(len(c.data) <= 4096 for c in release.chunks)
    publish_release(broker.url, topics, release)

    def final(m) -> bool:  # type: ignore[no-untyped-def]
        return decode(OtaStatus, m.payload).state in ("applied", "rejected", "rolled_back")

    ota_status.wait_for(6, 120, where=final)

    for did in ("ota-00", "ota-03", "ota-04", "ota-05"):  # the updated ones answer with v2
        reports.wait_for(5, 60, where=lambda m, d=did: (  # type: ignore[misc]
            decode(Report, m.payload).device_id == d
            and decode(Report, m.payload).model_version == 2))
    driver.stop(drain_timeout=20)
    driver.join(30)
    assert driver.errors == 0

    status = {s.device_id: s for s in (decode(OtaStatus, m.payload) for m in ota_status.messages)
              if s.state != "downloading"}
    assert (status["ota-01"].state, status["ota-01"].reason) == ("rejected", "sha256_mismatch")
    assert (status["ota-02"].state, status["ota-02"].reason) == ("rejected", "arena_too_small")
    assert status["ota-01"].running_version == status["ota-02"].running_version == 1
    for did in ("ota-00", "ota-03", "ota-04", "ota-05"):
        assert (status[did].state, status[did].reason, status[did].running_version) == \
            ("applied", "ok", 2), ota_status.describe()
        assert agents[did].core.source is agents["ota-00"].core.source  # shared
        assert agents[did].core.thresholds.device_confidence == float(np.float32(0.85))  # v2's
    # the newest birth of each device names the model it runs
    last_birth: dict[str, DeviceState] = {}
    for m in births.messages:
        b = decode(DeviceState, m.payload)
        if b.online:
            last_birth[b.device_id] = b
    assert {d: b.model_version for d, b in last_birth.items()} == {
        "ota-00": 2, "ota-01": 1, "ota-02": 1, "ota-03": 2, "ota-04": 2, "ota-05": 2}

    made = {r.key: r for r in (decode(Report, m.payload) for m in reports.messages)}
    assert len(made) == sum(d.stats.made for d in devices)  # every report reached the broker
    by_version = {did: {r.model_version for r in made.values() if r.device_id == did}
                  for did in agents}
    assert by_version["ota-01"] == by_version["ota-02"] == {1}
    assert all(by_version[d] == {1, 2} for d in ("ota-00", "ota-03", "ota-04", "ota-05"))

    results.wait_for(len(made), 60, where=lambda m: True)
    firsts = [r for r in decoded_results(results) if r.revision == 0]
    answered = {r.key: r for r in firsts}
    assert len(firsts) == len(answered) == len(made), results.describe()  # once each, none lost
    assert set(answered) == set(made)
    tier_models = {"edge": "mnist-edge", "cloud": "mnist-cloud", "cache": "mnist-edge"}
    for key, r in answered.items():
        if r.tier == "device":  # the device's model, at the version that made this report
            assert (r.model_id, r.model_version) == (made[key].model_id,
                                                     made[key].model_version), r
        else:
            assert r.model_id == tier_models[r.tier] and r.model_version >= 1, r
