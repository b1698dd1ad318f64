"""The board's OTA shell (firmware/esp32/main/ota_esp32.c) run on the host against fakes
of esp_partition, NVS and esp-mqtt (firmware/tests/esp32_host/ota_host.c), fed real
protocol bytes the way esp-mqtt delivers them: in pieces, only the first with a topic.

Two defects these would have caught: a manifest larger than esp-mqtt's buffer was never
acted on (its last piece, with no topic, went to the chunk decoder) and later pieces of
anyone's message were taken as OTA data; every self-test mapped the new slot and never
released the mapping."""

from __future__ import annotations

import hashlib
import subprocess

import numpy as np
import pytest

from edgecascade.protocol import ModelChunk, ModelManifest, OtaStatus, Topics, decode, encode

from .cbuild import BUILD, make

TOPICS = Topics("ec/v1")
PIECE = 300  # esp-mqtt's buffer (2 KB on the board), smaller than the messages below


@pytest.fixture(scope="module")
def host() -> str:
    proc = make("ota-host")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return str(BUILD / "ota_esp32_host")


def run(host: str, lines: list[str]) -> list[str]:
    proc = subprocess.run([host], input="".join(f"{x}\n" for x in lines), capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [x for x in proc.stdout.splitlines() if x.startswith(("ours", "maps", "booted"))]


def pieces(topic: str, data: bytes, size: int = PIECE) -> list[str]:
    """One message as esp-mqtt hands it over: the topic on the first piece only."""
    return [f"data {topic if off == 0 else '-'} {len(data)} {off} {data[off:off + size].hex()}"
            for off in range(0, len(data), size)]


def update(devices: tuple[str, ...]) -> tuple[bytes, list[bytes]]:
    model = np.random.default_rng(21).integers(0, 256, 6000, dtype=np.uint8).tobytes()
    manifest = encode(ModelManifest("mnist-mcu", 2, "mcu", hashlib.sha256(model).digest(),
                                    len(model), 20000, 4096, 0.9, 0.1, 0.3, devices))
    chunks = [encode(ModelChunk("mnist-mcu", 2, i, off, model[off:off + 4096]))
              for i, off in enumerate(range(0, len(model), 4096))]
    return manifest, chunks


def stats(line: str) -> dict[str, str]:
    words = line.split()
    return dict(zip(words[::2], words[1::2], strict=True))


def test_a_manifest_in_pieces_starts_the_download_and_installs(host: str) -> None:
    # 60 target devices make the manifest larger than one piece
    manifest, chunks = update(tuple(f"device-{i:03d}" for i in range(59)) + ("dev1",))
    assert len(manifest) > 2 * PIECE
    lines = ["boot", *pieces(TOPICS.model_manifest("mcu"), manifest), "stats"]
    for i, c in enumerate(chunks):
        lines += pieces(TOPICS.model_chunk("mcu", 2, i), c)
    lines += ["stats", "poll ok", "stats"]
    out = run(host, lines)
    assert all(x == "ours 1" for x in out if x.startswith("ours")), out
    after_manifest, after_chunks, after_poll = (stats(x) for x in out if x.startswith("maps"))
    status = decode(OtaStatus, bytes.fromhex(after_manifest["status"]))
    assert (status.state, status.version) == ("downloading", 2)
    # the self-test's mapping of the new slot is released; the install restarts the board
    assert after_chunks["live"] == "0" and after_poll["maps"] == "1"
    assert after_poll["live"] == "0" and after_poll["restarts"] == "1"


def test_a_failed_self_test_releases_its_mapping_too(host: str) -> None:
    manifest, chunks = update(())
    lines = ["boot", *pieces(TOPICS.model_manifest("mcu"), manifest, 4096)]
    for i, c in enumerate(chunks):
        lines += pieces(TOPICS.model_chunk("mcu", 2, i), c)
    out = run(host, [*lines, "poll fail", "stats"])
    last = stats(out[-1])
    assert (last["maps"], last["live"], last["restarts"]) == ("1", "0", "0")
    status = decode(OtaStatus, bytes.fromhex(last["status"]))
    assert (status.state, status.reason) == ("rejected", "self_test_failed")


def test_later_pieces_of_other_messages_are_not_ota_data(host: str) -> None:
    config_topic = TOPICS.device_config("dev1")
    other = bytes(range(256)) * 8  # 2 KB of someone else's message, in pieces
    out = run(host, ["boot", *pieces(config_topic, other), "stats"])
    answers = [x for x in out if x.startswith("ours")]
    assert answers == ["ours 0"] * len(answers) and len(answers) > 1
    assert stats(out[-1])["dropped"] == "0"
