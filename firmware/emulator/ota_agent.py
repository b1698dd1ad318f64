"""Model updates over the air on an emulated device: the shell around :mod:`.ota`.

The whole flow of the firmware, with the real tflite-micro interpreter:

1. the retained ``ModelManifest`` of the device's tier arrives; :func:`ota.admit` decides
   (``too_large`` / ``arena_too_small`` are answered at once, the running model kept);
2. the device subscribes to that version's retained ``ModelChunk`` topics and writes each
   valid chunk into the **inactive** slot at its offset (:class:`FileSlots`, the twin of
   the board's ``model_0``/``model_1`` partitions and its NVS slot record);
3. once complete: sha256 of the slot (``sha256_mismatch``), then the model is loaded in
   the device's own arena (``load_failed``) and run on the device's stored self-test
   frames (``self_test_failed`` when fewer than :data:`SELF_TEST_MIN_CORRECT` are right);
4. switch: the slot record makes the new slot active on trial, the device answers with
   the new model and its thresholds from the manifest, sends a fresh birth naming the
   new version, and confirms the slot.

At start (:meth:`OtaAgent._boot`) the agent does what the board's boot does: counts a
trial, rolls back one that never confirmed (``rolled_back``), and runs the active
slot's model (verified again) with its manifest's identity and thresholds.

Every outcome is published retained as an ``OtaStatus`` on ``Topics.device_ota``.
Messages arrive in paho callbacks (:meth:`on_message`: decode and store only); the
slow work and every publish happen in :meth:`service`, on the driver's thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgecascade.models.errors import ModelError
from edgecascade.models.micro import MicroRunner
from edgecascade.models.preprocess import pixels_to_input
from edgecascade.protocol import ProtocolError, Topics, decode, encode
from edgecascade.protocol.ota_messages import ModelChunk, ModelManifest, OtaStatus

from . import ota
from .model import EmulatorModelError, FrameSource
from .policy import topk

if TYPE_CHECKING:
    from .core import DeviceCore

log = logging.getLogger(__name__)

#: Self-test frames stored on the device (one per label) and how many must be right.
SELF_TEST_FRAMES = 10
SELF_TEST_MIN_CORRECT = 8
#: The emulated board's arena when none is given (the mcu budget, ``models.micro``).
DEFAULT_ARENA_BYTES = 32 * 1024


class FileSlots:
    """Two model slots and the slot record in a directory (the board: partitions + NVS)."""

    def __init__(self, directory: str | Path, slot_bytes: int = ota.SLOT_BYTES) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.slot_bytes = slot_bytes

    def path(self, slot: int) -> Path:
        return self.dir / f"model_{slot}.bin"

    def erase(self, slot: int) -> None:
        self.path(slot).write_bytes(b"")

    def write(self, slot: int, offset: int, data: bytes) -> None:
        if offset + len(data) > self.slot_bytes:
            raise OSError(f"write past the end of model slot {slot}")
        with self.path(slot).open("r+b") as f:
            f.seek(offset)
            f.write(data)

    def read(self, slot: int, size: int) -> bytes:
        return self.path(slot).read_bytes()[:size]

    def record(self) -> ota.SlotRecord:
        p = self.dir / "slot.json"
        if not p.is_file():
            return ota.SlotRecord()
        return ota.SlotRecord(**json.loads(p.read_text()))

    def save_manifest(self, slot: int, m: ModelManifest) -> None:
        """What the slot holds (the board: NVS ``ota_m0``/``ota_m1``)."""
        (self.dir / f"manifest_{slot}.bin").write_bytes(encode(m))

    def manifest(self, slot: int) -> ModelManifest | None:
        """The manifest of the model in ``slot``; None: the factory model (slot 0) or none."""
        p = self.dir / f"manifest_{slot}.bin"
        return decode(ModelManifest, p.read_bytes()) if p.is_file() else None

    def save_record(self, record: ota.SlotRecord) -> None:
        p = self.dir / "slot.json"
        p.write_text(json.dumps({"active": record.active, "trial": record.trial,
                                 "tries": record.tries}))


@dataclass(frozen=True)
class Outcome:
    """One finished manifest: what the device did and why (an ``OtaStatus``'s content)."""

    version: int
    state: str
    reason: str
    running_version: int


class OtaAgent:
    """One device's OTA client; ``tier`` is the model tier it follows (``mcu``)."""

    def __init__(
        self,
        core: DeviceCore,
        topics: Topics,
        slots: FileSlots,
        *,
        arena_bytes: int = DEFAULT_ARENA_BYTES,
        tier: str = "mcu",
        sources: dict[tuple[bytes, str, int], FrameSource] | None = None,
    ) -> None:
        self.core = core
        # Installed models by (sha256, id, version), shared by a fleet's agents so a
        # thousand devices on v2 run one interpreter (and one answer memo), not a thousand.
        self.sources = sources if sources is not None else {}
        self.topics = topics
        self.slots = slots
        self.arena_bytes = arena_bytes
        self.tier = tier
        self.manifest_topic = topics.model_manifest(tier)
        self.assembly: ota.Assembly | None = None
        self.outcomes: list[Outcome] = []
        self._pending: list[Outcome] = []  # to publish from service()
        self._subscribe: list[str] = []
        self._unsubscribe: list[str] = []
        self._ready = False  # the assembly is complete: verify and switch in service()
        self._failed: str | None = None
        self.switched = False  # a new model was adopted: the device sends a fresh birth
        labels = np.asarray(core.source.labels)
        picks = [int(np.flatnonzero(labels == c)[0]) for c in sorted(set(labels.tolist()))]
        self.self_test = picks[:SELF_TEST_FRAMES]
        self.boot = self._boot()

    def _boot(self) -> ota.BootOutcome:
        """At start: count a trial, roll back an unconfirmed one, run the active slot's
        model (the core's own model when the slot holds none: the factory model)."""
        record, kind = ota.boot(self.slots.record())
        self.slots.save_record(record)
        if kind is ota.BootOutcome.ROLLED_BACK:
            tried = self.slots.manifest(1 - record.active)
            self._finish(tried.version if tried else 0, "rolled_back", "load_failed")
        m = self.slots.manifest(record.active)
        if m is None:
            return kind
        try:
            if not ota.verify(m, self.slots.read(record.active, m.size)):
                raise EmulatorModelError(self.slots.path(record.active), "sha256 mismatch")
            source = self._source(self.slots.path(record.active), m)
            source.answer(self.core.frame_index(self.core.seq))
        except (EmulatorModelError, ModelError):
            if kind is ota.BootOutcome.TRIAL:  # the trial failed: back to the other slot
                record, kind = ota.boot(record)
                self.slots.save_record(record)
                self._finish(m.version, "rolled_back", "load_failed")
                return kind
            raise  # a confirmed slot that no longer loads: the board would halt too
        self._adopt(source, m)
        if kind is ota.BootOutcome.TRIAL:
            self.slots.save_record(ota.confirm(record))
            self._finish(m.version, "applied", "ok")
        return kind

    def _adopt(self, source: FrameSource, m: ModelManifest) -> None:
        self.core.source = source
        self.core.thresholds = replace(
            self.core.thresholds, device_confidence=m.conf_threshold,
            device_margin=m.margin_threshold, complexity_limit=m.complexity_limit)

    @property
    def running_version(self) -> int:
        return self.core.source.model_version

    def subscriptions(self) -> list[str]:
        """Topics to subscribe to after (re)connecting."""
        subs = [self.manifest_topic]
        if self.assembly is not None:
            subs.append(self.topics.model_chunk_filter(self.tier, self.assembly.manifest.version))
        return subs

    def owns(self, topic: str) -> bool:
        return topic == self.manifest_topic or topic.startswith(
            f"{self.topics.prefix}/models/{self.tier}/v")

    # -- paho callback side: decode, check, store ------------------------------------
    def on_message(self, topic: str, payload: bytes) -> None:
        try:
            if topic == self.manifest_topic:
                self._on_manifest(decode(ModelManifest, payload))
            elif self.assembly is not None:
                self._on_chunk(decode(ModelChunk, payload))
        except ProtocolError as exc:
            log.warning("ota message rejected", extra={"device_id": self.core.device_id,
                                                       "error": exc.reason, "why": exc.why})

    def _on_manifest(self, m: ModelManifest) -> None:
        if self.assembly is not None and self.assembly.manifest == m:
            return  # the same manifest again (retained, after a reconnect)
        if any(o.version == m.version for o in self.outcomes):
            return  # already answered this version
        verdict = ota.admit(m, device_id=self.core.device_id, model_id=self.core.source.model_id,
                            running_version=self.running_version, arena_bytes=self.arena_bytes,
                            slot_bytes=self.slots.slot_bytes)
        if verdict is ota.Verdict.IGNORE:
            return
        self._drop_assembly()
        if verdict is not ota.Verdict.START:
            self._finish(m.version, "rejected", verdict.value)
            return
        self.assembly = ota.Assembly(m)
        self.slots.erase(self._inactive())
        self._subscribe.append(self.topics.model_chunk_filter(self.tier, m.version))
        self._pending.append(Outcome(m.version, "downloading", "in_progress",
                                     self.running_version))

    def _on_chunk(self, chunk: ModelChunk) -> None:
        assert self.assembly is not None
        if chunk.version != self.assembly.manifest.version:
            return  # a chunk of another version still retained on the broker
        outcome = self.assembly.check(chunk)
        if outcome is ota.ChunkOutcome.BAD:
            self._fail("bad_chunk")
        elif outcome is ota.ChunkOutcome.STORED:
            try:
                self.slots.write(self._inactive(), chunk.offset, chunk.data)
            except OSError:
                self._fail("storage")
                return
            if self.assembly.complete:
                self._ready = True

    # -- driver thread side -----------------------------------------------------------
    def service(self, publish: Callable[[str, bytes], object], now_ms: int) -> list[str]:
        """Do the slow work, publish the outcomes (``publish(topic, payload)``: retained,
        QoS 1) and return the topics to subscribe to."""
        if self._failed is not None and self.assembly is not None:
            self._finish(self.assembly.manifest.version, "rejected", self._failed)
            self._drop_assembly()
        if self._ready and self.assembly is not None:
            self._install(self.assembly.manifest)
        for o in self._pending:
            status = OtaStatus(self.core.device_id, now_ms, self.core.source.model_id, o.version,
                               o.state, o.reason, o.running_version)
            publish(self.topics.device_ota(self.core.device_id), encode(status))
        self._pending.clear()
        subs, self._subscribe = self._subscribe, []
        return subs

    def take_unsubscribes(self) -> list[str]:
        out, self._unsubscribe = self._unsubscribe, []
        return out

    def _install(self, m: ModelManifest) -> None:
        self._ready = False
        slot = self._inactive()
        data = self.slots.read(slot, m.size)
        reason = self._check(m, data)
        if reason is not None:
            self._finish(m.version, "rejected", reason)
            self._drop_assembly()
            return
        old_source, old_thresholds = self.core.source, self.core.thresholds
        self.slots.save_manifest(slot, m)
        record = ota.switch(self.slots.record())
        self.slots.save_record(record)
        record, _ = ota.boot(record)  # the twin of the board's reboot into the trial slot
        self.slots.save_record(record)
        try:
            source = self._source(self.slots.path(slot), m)
            source.answer(self.core.frame_index(self.core.seq))  # the trial: one real frame
        except (EmulatorModelError, ModelError):
            record, _ = ota.boot(record)  # never confirmed: the next boot rolls back
            self.slots.save_record(record)
            self.core.source, self.core.thresholds = old_source, old_thresholds
            self._finish(m.version, "rolled_back", "load_failed")
            self._drop_assembly()
            return
        self._adopt(source, m)
        self.slots.save_record(ota.confirm(record))
        self.switched = True
        self._finish(m.version, "applied", "ok")
        self._drop_assembly()
        log.info("model switched", extra={"device_id": self.core.device_id,
                                          "model_version": m.version})

    def _check(self, m: ModelManifest, data: bytes) -> str | None:
        """The first failing check after download, or None: sha256, load, self-test."""
        if not ota.verify(m, data):
            return "sha256_mismatch"
        try:
            runner = MicroRunner(self.slots.path(self._inactive()), arena_size=self.arena_bytes)
            right = self._self_test(runner)
        except (ModelError, TypeError, ValueError, RuntimeError):
            # the interpreter's reader raises TypeError on some damaged flatbuffers
            return "load_failed"
        if right < SELF_TEST_MIN_CORRECT:
            return "self_test_failed"
        return None

    def _self_test(self, runner: MicroRunner) -> int:
        """How many stored self-test frames the new model labels right."""
        src = self.core.source
        if tuple(runner.input_shape[:2]) != tuple(src.images.shape[1:]):
            return 0
        right = 0
        q_in, q_out = runner.input_quantization, runner.output_quantization
        for i in self.self_test:
            x = pixels_to_input(src.images[i], q_in.scale, q_in.zero_point)
            classes, _ = topk(runner.predict_int8(x), q_out.scale, q_out.zero_point, 1)
            right += int(classes[0] == int(src.labels[i]))
        return right

    def _source(self, path: Path, m: ModelManifest) -> FrameSource:
        key = (m.sha256, m.model_id, m.version)
        shared = self.sources.get(key)
        if shared is not None:
            return shared
        old = self.core.source
        source = FrameSource(path, images=old.images, labels=old.labels, mean=old.mean, k=old.k)
        # The slot's bytes are pinned by the manifest's sha256: its identity is the manifest's.
        source.model_id, source.model_version = m.model_id, m.version
        self.sources[key] = source
        return source

    def _inactive(self) -> int:
        return 1 - self.slots.record().active

    def _fail(self, reason: str) -> None:
        if self._failed is None:
            self._failed = reason

    def _finish(self, version: int, state: str, reason: str) -> None:
        outcome = Outcome(version, state, reason, self.running_version)
        self.outcomes.append(outcome)
        self._pending.append(outcome)
        log.info("ota outcome", extra={"device_id": self.core.device_id, "version": version,
                                       "state": state, "reason": reason})

    def _drop_assembly(self) -> None:
        if self.assembly is not None:
            self._unsubscribe.append(
                self.topics.model_chunk_filter(self.tier, self.assembly.manifest.version))
        self.assembly = None
        self._ready = False
        self._failed = None


