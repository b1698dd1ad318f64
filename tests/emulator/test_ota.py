"""The emulator's OTA core and agent (twin of firmware/core/ec_ota.c): admission, chunk
assembly, sha256, the slot record, and the agent's checks with the real interpreter."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edgecascade.emulator import ota
from edgecascade.emulator.core import DeviceCore
from edgecascade.emulator.model import FrameSource, device_thresholds
from edgecascade.emulator.ota_agent import FileSlots, OtaAgent
from edgecascade.models.registry import MODELS_DIR
from edgecascade.protocol import Topics, decode, encode
from edgecascade.protocol.ota_messages import ModelChunk, ModelManifest, OtaStatus
from edgecascade.tools.models.deploy import build_release, canary_targets, parse_share
from edgecascade.tools.models.variant import make_variant

MODEL = bytes((i * 31 + 5) % 256 for i in range(5000))


def manifest(**kw: object) -> ModelManifest:
    base = dict(model_id="mnist-mcu", version=2, tier="mcu",
                sha256=hashlib.sha256(MODEL).digest(), size=len(MODEL), arena_bytes=20000,
                chunk_bytes=1024, conf_threshold=0.9, margin_threshold=0.2,
                complexity_limit=0.3)
    base.update(kw)
    return ModelManifest(**base)  # type: ignore[arg-type]


def admit(m: ModelManifest, **kw: object) -> ota.Verdict:
    args = dict(device_id="cam-01", model_id="mnist-mcu", running_version=1,
                arena_bytes=32768, slot_bytes=8192)
    args.update(kw)
    return ota.admit(m, **args)  # type: ignore[arg-type]


def test_admit_names_the_first_failing_check() -> None:
    m = manifest()
    assert admit(m) is ota.Verdict.START
    assert admit(m, running_version=2) is ota.Verdict.IGNORE
    assert admit(m, model_id="other") is ota.Verdict.IGNORE
    assert admit(manifest(devices=("cam-02",))) is ota.Verdict.IGNORE
    assert admit(manifest(devices=("cam-02", "cam-01"))) is ota.Verdict.START
    assert admit(m, arena_bytes=16384) is ota.Verdict.ARENA_TOO_SMALL
    assert admit(m, slot_bytes=4096, arena_bytes=1) is ota.Verdict.TOO_LARGE  # size first
    assert admit(manifest(version=1), running_version=2) is ota.Verdict.START  # rollback deploy


def chunks_of(m: ModelManifest, data: bytes = MODEL) -> list[ModelChunk]:
    return [ModelChunk(m.model_id, m.version, i, i * m.chunk_bytes,
                       data[i * m.chunk_bytes:(i + 1) * m.chunk_bytes]) for i in range(m.chunks)]


def test_assembly_takes_each_chunk_once_in_any_order_and_refuses_bad_ones() -> None:
    m = manifest()
    a = ota.Assembly(m)
    good = chunks_of(m)
    assert len(good) == 5 and len(good[-1].data) == 5000 - 4096
    bad = [
        ModelChunk("mnist-mcu", 2, 1, 1000, MODEL[:1024]),  # offset is not index * size
        ModelChunk("mnist-mcu", 2, 1, 1024, MODEL[:1000]),  # short
        ModelChunk("mnist-mcu", 3, 1, 1024, MODEL[:1024]),  # other version
        ModelChunk("other", 2, 1, 1024, MODEL[:1024]),  # other model
        ModelChunk("mnist-mcu", 2, 5, 5120, MODEL[:10]),  # past the end
    ]
    assert all(a.check(c) is ota.ChunkOutcome.BAD for c in bad)
    for c in reversed(good):
        assert a.check(c) is ota.ChunkOutcome.STORED
        assert a.check(c) is ota.ChunkOutcome.DUPLICATE
    assert a.complete and a.received == 5
    assert ota.verify(m, MODEL)
    assert not ota.verify(m, MODEL[:-1] + bytes([MODEL[-1] ^ 1]))
    assert not ota.verify(m, MODEL + b"\0")


def test_slot_record_trial_confirm_and_rollback() -> None:
    r = ota.switch(ota.SlotRecord())
    assert r == ota.SlotRecord(active=1, trial=True, tries=0)
    r, kind = ota.boot(r)
    assert kind is ota.BootOutcome.TRIAL and r.tries == 1
    back, kind = ota.boot(r)
    assert kind is ota.BootOutcome.ROLLED_BACK and back == ota.SlotRecord(active=0)
    assert ota.boot(back) == (back, ota.BootOutcome.NORMAL)
    assert ota.boot(ota.confirm(r)) == (ota.SlotRecord(active=1), ota.BootOutcome.NORMAL)


@pytest.fixture(scope="module")
def source() -> FrameSource:
    return FrameSource()


def run_agent(source: FrameSource, tmp_path: Path, model: bytes, **kw: object
              ) -> tuple[OtaAgent, list[OtaStatus]]:
    """Feed a release of ``model`` straight into an agent (no broker) and collect statuses."""
    topics = Topics()
    core = DeviceCore("cam-01", source, 1, device_thresholds())
    agent = OtaAgent(core, topics, FileSlots(tmp_path / "slots"))
    release = build_release(model, model_id="mnist-mcu", version=2, tier="mcu",
                            arena_bytes=int(kw.get("arena", 30000)), conf_threshold=0.8,
                            margin_threshold=0.1, complexity_limit=0.5)
    out: list[OtaStatus] = []
    for topic, payload in release.messages(topics)[::-1]:  # manifest first, then chunks
        agent.on_message(topic, payload)
    agent.service(lambda t, p: out.append(decode(OtaStatus, p)), 1)
    return agent, out


def test_agent_applies_a_good_model_with_its_thresholds(source: FrameSource, tmp_path: Path
                                                        ) -> None:
    v2 = make_variant((MODELS_DIR / "mnist-mcu.tflite").read_bytes())
    agent, statuses = run_agent(source, tmp_path, v2)
    assert [(s.state, s.reason, s.running_version) for s in statuses] == [
        ("downloading", "in_progress", 1), ("applied", "ok", 2)]
    assert agent.core.source.model_version == 2 and agent.switched
    assert agent.core.thresholds.device_margin == pytest.approx(0.1)
    assert agent.slots.record() == ota.SlotRecord(active=1)
    assert (tmp_path / "slots" / "model_1.bin").read_bytes() == v2


def test_agent_keeps_v1_when_the_new_model_fails_its_self_test(source: FrameSource,
                                                               tmp_path: Path) -> None:
    # the same graph with every dense weight zeroed: loads, runs, answers nonsense
    broken = make_variant((MODELS_DIR / "mnist-mcu.tflite").read_bytes(), nudge=0, zero_dense=True)
    agent, statuses = run_agent(source, tmp_path, broken)
    assert (statuses[-1].state, statuses[-1].reason) == ("rejected", "self_test_failed")
    assert agent.core.source.model_version == 1 and agent.slots.record() == ota.SlotRecord()


def test_agent_keeps_v1_when_the_bytes_are_not_a_model(source: FrameSource, tmp_path: Path
                                                       ) -> None:
    agent, statuses = run_agent(source, tmp_path, b"not a flatbuffer" * 100)
    assert (statuses[-1].state, statuses[-1].reason) == ("rejected", "load_failed")
    assert agent.core.source.model_version == 1


def test_canary_pick_is_stable_and_at_least_one() -> None:
    fleet = [f"emu-{i:04d}" for i in range(50)]
    pick = canary_targets(fleet, parse_share("10%"))
    assert len(pick) == 5 and pick == canary_targets(list(reversed(fleet)), 0.1)
    assert len(canary_targets(fleet[:3], 0.01)) == 1
    with pytest.raises(ValueError):
        parse_share("0%")


def test_release_chunks_fit_the_limit_and_rebuild_the_model() -> None:
    r = build_release(MODEL, model_id="m", version=3, tier="mcu", arena_bytes=1,
                      conf_threshold=0.5, margin_threshold=0.5, complexity_limit=float("inf"))
    assert b"".join(c.data for c in r.chunks) == MODEL
    assert all(len(encode(c)) < 128 * 1024 for c in r.chunks)
    assert 1e38 < r.manifest.complexity_limit < float("inf")  # inf is no float32 on the wire


def test_deploy_command_publishes_retained_chunks_then_the_manifest(broker, topics, tmp_path: Path
                                                                    ) -> None:
    from edgecascade.cli import main
    from tests.support import Collector

    model = tmp_path / "m.tflite"
    model.write_bytes(MODEL)
    fleet = ",".join(f"cam-{i:02d}" for i in range(20))
    rc = main(["models", "deploy", "--tier", "mcu", "--version", "3", "--model", str(model),
               "--model-id", "mnist-mcu", "--arena-bytes", "20000", "--canary", "10%",
               "--fleet", fleet, "--chunk-bytes", "2048", "--broker", broker.url,
               "--prefix", topics.prefix])
    assert rc == 0
    late = Collector(broker.host, broker.port,  # subscribes after the fact: retained only
                     [topics.model_manifest("mcu"), topics.model_chunk_filter("mcu", 3)])
    try:
        got = late.wait_for(4, 10)
    finally:
        late.close()
    assert all(m.retain for m in got)
    m = decode(ModelManifest, next(g.payload for g in got if g.topic.endswith("manifest")))
    assert (m.version, m.size, m.chunk_bytes, m.chunks, m.arena_bytes) == (3, 5000, 2048, 3,
                                                                            20000)
    assert m.devices == canary_targets(fleet.split(","), 0.1) and len(m.devices) == 2
    chunks = sorted((decode(ModelChunk, g.payload) for g in got if "/v3/" in g.topic),
                    key=lambda c: c.index)
    assert hashlib.sha256(b"".join(c.data for c in chunks)).digest() == m.sha256


def test_restart_runs_the_installed_model_and_an_unconfirmed_trial_rolls_back(
        source: FrameSource, tmp_path: Path) -> None:
    v2 = make_variant((MODELS_DIR / "mnist-mcu.tflite").read_bytes())
    agent, _ = run_agent(source, tmp_path, v2)
    assert agent.slots.record() == ota.SlotRecord(active=1)

    def restart() -> OtaAgent:
        core = DeviceCore("cam-01", source, 2, device_thresholds())  # boots the factory model
        return OtaAgent(core, Topics(), FileSlots(tmp_path / "slots"))

    again = restart()  # a confirmed slot: v2 again, with v2's thresholds
    assert again.boot is ota.BootOutcome.NORMAL and again.running_version == 2
    assert again.core.thresholds.device_margin == pytest.approx(0.1)

    # power lost after the switch, before the first boot counted the trial: trial, confirmed
    again.slots.save_record(ota.SlotRecord(active=1, trial=True, tries=0))
    trial = restart()
    assert trial.boot is ota.BootOutcome.TRIAL and trial.running_version == 2
    assert trial.slots.record() == ota.SlotRecord(active=1)

    # a trial that was booted once and never confirmed (it crashed): back to slot 0
    trial.slots.save_record(ota.SlotRecord(active=1, trial=True, tries=1))
    back = restart()
    assert back.boot is ota.BootOutcome.ROLLED_BACK and back.running_version == 1
    assert back.slots.record() == ota.SlotRecord(active=0)
    out: list[OtaStatus] = []
    back.service(lambda t, p: out.append(decode(OtaStatus, p)), 1)
    assert [(s.version, s.state, s.reason, s.running_version) for s in out] == [
        (2, "rolled_back", "load_failed", 1)]

    # a trial slot whose bytes went bad: rolled back at boot, not run
    back.slots.save_record(ota.SlotRecord(active=1, trial=True, tries=0))
    path = back.slots.path(1)
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    bad = restart()
    assert bad.boot is ota.BootOutcome.ROLLED_BACK and bad.running_version == 1


def test_agent_reports_a_damaged_flatbuffer_with_a_matching_hash_as_load_failed(
        source: FrameSource, tmp_path: Path) -> None:
    # the publisher hashed bad bytes: sha256 passes, the interpreter's reader raises
    bad = bytearray(make_variant((MODELS_DIR / "mnist-mcu.tflite").read_bytes()))
    bad[0] ^= 1
    agent, statuses = run_agent(source, tmp_path, bytes(bad))
    assert (statuses[-1].state, statuses[-1].reason) == ("rejected", "load_failed")
    assert agent.core.source.model_version == 1
