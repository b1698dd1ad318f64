"""Model updates over the air: the pure core, twin of ``firmware/core/ec_ota.c``.

No I/O, no clock: the shell (:mod:`edgecascade.emulator.ota_agent`) feeds decoded
manifests and chunks in and acts on what comes out. The same rules as the C core:

* **admit** a manifest (:func:`admit`): it must address this device, name the tier's
  model and another version than the running one (the manifest is the version to run:
  an older one is a rollback deploy), fit a model slot (``too_large``) and need no
  more arena than the device has (``arena_too_small``, from the manifest's *measured*
  arena: never by trying to allocate, which aborts tflite-micro on a too-small arena);
* **assemble** chunks (:class:`Assembly`): each chunk must carry the manifest's model and
  version, an index below the chunk count, ``offset == index * chunk_bytes`` and exactly
  ``chunk_bytes`` bytes (the last: the remainder), else ``bad_chunk``; a repeated chunk
  is ignored; bytes go to the inactive slot at their offset;
* **verify** (:func:`verify`): sha256 of the assembled bytes equals the manifest's;
* **slot record** (:class:`SlotRecord`, :func:`switch`, :func:`boot`, :func:`confirm`):
  switching makes the new slot active *on trial*; the first boot on trial counts a try;
  a second boot still on trial (the new model never confirmed) rolls back to the other
  slot. Confirming ends the trial.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, replace

from edgecascade.protocol.limits import MAX_MODEL_BYTES
from edgecascade.protocol.ota_messages import ModelChunk, ModelManifest

#: Bytes of one model slot (``model_0``/``model_1`` in ``firmware/esp32/partitions.csv``).
SLOT_BYTES = MAX_MODEL_BYTES


class Verdict(str, enum.Enum):
    """What :func:`admit` says about a manifest (the non-``START`` ones are final)."""

    START = "start"  # download it
    IGNORE = "ignore"  # not for us, another model, or already running: no status
    TOO_LARGE = "too_large"
    ARENA_TOO_SMALL = "arena_too_small"


def admit(
    manifest: ModelManifest,
    *,
    device_id: str,
    model_id: str,
    running_version: int,
    arena_bytes: int,
    slot_bytes: int = SLOT_BYTES,
) -> Verdict:
    """Whether to download ``manifest``; the first failing check names the verdict."""
    if not manifest.targets(device_id) or manifest.model_id != model_id:
        return Verdict.IGNORE
    if manifest.version == running_version:
        return Verdict.IGNORE
    if manifest.size > slot_bytes:
        return Verdict.TOO_LARGE
    if manifest.arena_bytes > arena_bytes:
        return Verdict.ARENA_TOO_SMALL
    return Verdict.START


class ChunkOutcome(str, enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    BAD = "bad_chunk"


def chunk_length(manifest: ModelManifest, index: int) -> int:
    """Exact byte count of chunk ``index`` (0 when the index is out of range)."""
    if not 0 <= index < manifest.chunks:
        return 0
    return min(manifest.chunk_bytes, manifest.size - index * manifest.chunk_bytes)


class Assembly:
    """Which chunks of one manifest have arrived; the bytes live in the slot seam."""

    def __init__(self, manifest: ModelManifest) -> None:
        self.manifest = manifest
        self._have = bytearray(manifest.chunks)
        self.received = 0

    def check(self, chunk: ModelChunk) -> ChunkOutcome:
        """Classify ``chunk`` and, when it is new and valid, mark it received."""
        m = self.manifest
        want = chunk_length(m, chunk.index)
        if (chunk.model_id != m.model_id or chunk.version != m.version or want == 0
                or chunk.offset != chunk.index * m.chunk_bytes or len(chunk.data) != want):
            return ChunkOutcome.BAD
        if self._have[chunk.index]:
            return ChunkOutcome.DUPLICATE
        self._have[chunk.index] = 1
        self.received += 1
        return ChunkOutcome.STORED

    @property
    def complete(self) -> bool:
        return self.received == self.manifest.chunks


def verify(manifest: ModelManifest, data: bytes) -> bool:
    """The assembled ``data`` is exactly the manifest's model (size and sha256)."""
    return len(data) == manifest.size and hashlib.sha256(data).digest() == manifest.sha256


@dataclass(frozen=True)
class SlotRecord:
    """What the device persists (NVS ``ota_slot``/``ota_trial``/``ota_tries``)."""

    active: int = 0
    trial: bool = False
    tries: int = 0


class BootOutcome(str, enum.Enum):
    NORMAL = "normal"  # the active slot is confirmed
    TRIAL = "trial"  # first boot of a new slot: run it and confirm it
    ROLLED_BACK = "rolled_back"  # the trial never confirmed: back to the other slot


def switch(record: SlotRecord) -> SlotRecord:
    """Make the other slot active, on trial."""
    return SlotRecord(active=1 - record.active, trial=True, tries=0)


def boot(record: SlotRecord) -> tuple[SlotRecord, BootOutcome]:
    """The record after one boot, and which kind of boot it was."""
    if not record.trial:
        return record, BootOutcome.NORMAL
    if record.tries == 0:
        return replace(record, tries=1), BootOutcome.TRIAL
    return SlotRecord(active=1 - record.active), BootOutcome.ROLLED_BACK


def confirm(record: SlotRecord) -> SlotRecord:
    """The trial slot worked: keep it."""
    return SlotRecord(active=record.active)
