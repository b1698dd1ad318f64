"""``edgecascade flash`` against esptool itself, on real ESP images it generates.

esptool offers no file-backed or emulated flash target, so the board side is proven by:
the exact ``write-flash`` command line (accepted by esptool's own parser: it gets as far
as opening the port), the byte ranges esptool erases for it (whole 4 KB sectors per
image), and a 4 MB flash image with provisioned NVS onto which those ranges are laid.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from edgecascade.cli import main
from edgecascade.emulator.flash import (
    FlashError,
    check_esptool,
    esptool_version,
    plan_from_build,
    plan_from_files,
    run_plan,
)
from edgecascade.emulator.partitions import SECTOR, load, to_binary

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "firmware" / "esp32" / "partitions.csv"
ESPTOOL = [sys.executable, "-m", "esptool"]
NO_PORT = "/nonexistent/ttyUSB-edgecascade"


def tiny_elf(sections: list[tuple[str, int, bytes]], entry: int) -> bytes:
    """A minimal Xtensa ELF32 with PROGBITS sections, enough for ``esptool elf2image``."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n, _, _ in sections) + b".shstrtab\0"
    body, offsets = b"", []
    for _, _, data in sections:
        offsets.append(0x34 + len(body))
        body += data + b"\0" * (-len(data) % 4)
    strtab = 0x34 + len(body)
    body += names + b"\0" * (-len(names) % 4)
    headers, name_at = [b"\0" * 40], 1
    for (name, addr, data), off in zip(sections, offsets, strict=True):
        headers.append(struct.pack("<10L", name_at, 1, 0x6, addr, off, len(data), 0, 0, 4, 0))
        name_at += len(name) + 1
    headers.append(struct.pack("<10L", name_at, 3, 0, 0, strtab, len(names), 0, 0, 1, 0))
    head = struct.pack("<16sHHLLLLLHHHHHH", b"\x7fELF\x01\x01\x01" + b"\0" * 9, 2, 0x5E, 1,
                       entry, 0, 0x34 + len(body), 0, 0x34, 32, 0, 40, len(headers),
                       len(headers) - 1)
    return head + body + b"".join(headers)


def esp_image(d: Path, name: str, code: bytes) -> Path:
    """A real ESP32-S3 image (header, segments, checksum, SHA-256) from esptool."""
    elf = d / f"{name}.elf"
    elf.write_bytes(tiny_elf([(".iram0.text", 0x40378000, code),
                              (".dram0.data", 0x3FC88000, b"\x55" * 64)], 0x40378000))
    out = d / f"{name}.bin"
    subprocess.run([*ESPTOOL, "--chip", "esp32s3", "elf2image", "-o", str(out), str(elf)],
                   check=True, capture_output=True)
    return out


def image_info(path: Path) -> str:
    proc = subprocess.run([*ESPTOOL, "--chip", "esp32s3", "image-info", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ESP-IDF-shaped build dir: real images, the shipped table, blank otadata."""
    d = tmp_path_factory.mktemp("build")
    (d / "bootloader").mkdir()
    (d / "partition_table").mkdir()
    esp_image(d, "edgecascade_device", bytes(range(256)) * 40)  # ~10 KB app
    boot = esp_image(d, "boot", bytes(range(255, -1, -1)) * 8)
    boot.rename(d / "bootloader" / "bootloader.bin")
    (d / "partition_table" / "partition-table.bin").write_bytes(to_binary(load(SHIPPED)))
    (d / "ota_data_initial.bin").write_bytes(b"\xff" * 0x2000)
    (d / "flasher_args.json").write_text(json.dumps({
        "flash_files": {"0x0": "bootloader/bootloader.bin",
                        "0x8000": "partition_table/partition-table.bin",
                        "0x390000": "ota_data_initial.bin", "0x10000": "edgecascade_device.bin"},
        "flash_settings": {"flash_mode": "dio", "flash_size": "4MB", "flash_freq": "80m"},
        "extra_esptool_args": {"chip": "esp32s3"},
    }))
    return d


def test_shipped_partition_table(tmp_path: Path) -> None:
    parts = {p.label: p for p in load(SHIPPED)}
    nvs = parts["nvs"]
    assert (nvs.is_nvs, nvs.offset, nvs.end) == (True, 0x9000, 0xF000)
    assert (parts["ota_0"].subtype, parts["ota_1"].subtype) == (0x10, 0x11)
    assert parts["ota_0"].size == parts["ota_1"].size >= 0x180000
    assert parts["otadata"].size == 0x2000
    models = [p for p in parts.values() if p.type == 1 and p.subtype == 0x40]
    assert [p.label for p in models] == ["model_0", "model_1"]
    assert max(p.end for p in parts.values()) <= 4 * 1024 * 1024
    # the binary form round-trips and its MD5 entry is checked
    binary = to_binary(load(SHIPPED))
    tmp = tmp_path
    (tmp / "pt.bin").write_bytes(binary)
    assert load(tmp / "pt.bin") == load(SHIPPED)
    (tmp / "pt.bin").write_bytes(binary[:40] + bytes([binary[40] ^ 1]) + binary[41:])
    with pytest.raises(Exception, match="MD5"):
        load(tmp / "pt.bin")


def test_esptool_version_is_the_one_the_commands_are_for() -> None:
    version = esptool_version()
    check_esptool(version)  # the installed one (pyproject pins >=5,<6)
    assert version is not None and version.startswith("5.")
    with pytest.raises(FlashError, match="4.7.0 found"):
        check_esptool("4.7.0")
    with pytest.raises(FlashError, match="not installed"):
        check_esptool(None)


def test_write_command_is_exact_and_spares_nvs(build: Path) -> None:
    plan = plan_from_build(build, port="/dev/ttyUSB0")
    b = str(build)
    assert plan.write_command() == [
        *ESPTOOL, "--chip", "esp32s3", "--port", "/dev/ttyUSB0", "--baud", "460800",
        "write-flash", "--flash-mode", "dio", "--flash-size", "4MB", "--flash-freq", "80m",
        "0x0", f"{b}/bootloader/bootloader.bin",
        "0x8000", f"{b}/partition_table/partition-table.bin",
        "0x10000", f"{b}/edgecascade_device.bin", "0x390000", f"{b}/ota_data_initial.bin"]
    assert plan.erase_commands() == []
    (nvs,) = plan.settings
    for w in plan.writes:  # what esptool erases and writes: whole sectors per image
        assert w.offset % SECTOR == 0 and w.end % SECTOR == 0
        assert w.end <= nvs.offset or w.offset >= nvs.end, (w, nvs)
    assert any("keep  0x009000-0x00f000 nvs" in line for line in plan.layout())


def test_nvs_survives_flash_on_a_4mb_image(build: Path) -> None:
    """Lay what write-flash erases and writes onto a provisioned board's flash."""
    flash = bytearray(b"\xff" * 0x400000)
    nvs = bytes((i * 7 + 3) & 0xFF for i in range(0x6000))  # provisioned settings + epoch
    flash[0x9000:0xF000] = nvs
    flash[0x10000:0x1D0000] = b"\xa5" * 0x1C0000  # the old app
    plan = plan_from_build(build)
    for w in plan.writes:
        flash[w.offset:w.end] = b"\xff" * (w.end - w.offset)  # esptool's sector erase
        data = w.path.read_bytes()
        flash[w.offset:w.offset + len(data)] = data
    assert bytes(flash[0x9000:0xF000]) == nvs
    app = (build / "edgecascade_device.bin").read_bytes()
    assert bytes(flash[0x10000:0x10000 + len(app)]) == app


def test_esptool_accepts_the_command_lines(build: Path) -> None:
    """esptool parses every argument and stops only at the missing port."""
    for erase in (False, True):
        plan = plan_from_build(build, port=NO_PORT, erase_settings=erase)
        lines: list[str] = []
        cmds = [*plan.erase_commands(), plan.write_command()]
        assert len(cmds) == (2 if erase else 1)
        if erase:
            assert cmds[0][-3:] == ["erase-region", "0x9000", "0x6000"]
        for cmd in cmds:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            out = proc.stdout + proc.stderr
            assert proc.returncode != 0 and f"Could not open {NO_PORT}" in out, out
            assert "No such option" not in out and "Usage:" not in out, out
        assert run_plan(plan, dry_run=False, echo=lines.append) != 0
        ran = [line for line in lines if line.startswith("$ ")]
        assert len(ran) == 1  # the first failure stops the run
        assert ("erase-region" if erase else "write-flash") in ran[0]


def test_merged_image_is_valid_and_not_what_flash_writes(build: Path, tmp_path: Path) -> None:
    merged = tmp_path / "factory.bin"
    plan = plan_from_build(build, merged=merged)
    lines: list[str] = []
    assert run_plan(plan, dry_run=True, echo=lines.append) == 0
    image = merged.read_bytes()
    assert set(image[0x9000:0xF000]) == {0xFF}  # why a merged image must not be flashed
    app = (build / "edgecascade_device.bin").read_bytes()
    (tmp_path / "app.bin").write_bytes(image[0x10000:0x10000 + len(app)])
    info = image_info(tmp_path / "app.bin")
    assert "Checksum:" in info and "(valid)" in info and "(invalid)" not in info
    boot_len = (build / "bootloader" / "bootloader.bin").stat().st_size
    (tmp_path / "boot.bin").write_bytes(image[:boot_len])
    info = image_info(tmp_path / "boot.bin")
    assert "Flash mode: DIO" in info and "Flash size: 4MB" in info, info  # header patched
    assert "(invalid)" not in info
    would = [line for line in lines if line.startswith("would run: ")]
    assert len(would) == 1 and "write-flash" in would[0] and str(merged) not in would[0]


def test_from_files_uses_the_tables_boot_partition(build: Path) -> None:
    boot = build / "bootloader" / "bootloader.bin"
    table = build / "partition_table" / "partition-table.bin"
    app = build / "edgecascade_device.bin"
    plan = plan_from_files("esp32s3", boot, table, app)
    assert [w.offset for w in plan.writes] == [0x0, 0x8000, 0x10000]
    assert plan_from_files("esp32", boot, table, app).writes[0].offset == 0x1000
    with pytest.raises(FlashError, match="settings partition 'nvs'"):
        plan_from_files("esp32s3", boot, table, app, app_offset=0xA000)
    with pytest.raises(FlashError, match="in no partition"):
        plan_from_files("esp32s3", boot, table, app, app_offset=0x3E0000)


def test_bad_inputs_are_clear_errors(build: Path, tmp_path: Path) -> None:
    boot = build / "bootloader" / "bootloader.bin"
    table = build / "partition_table" / "partition-table.bin"
    app = build / "edgecascade_device.bin"
    with pytest.raises(FlashError, match="missing"):
        plan_from_files("esp32s3", tmp_path / "nope.bin", table, app)
    with pytest.raises(FlashError, match="chip"):
        plan_from_files("esp8266x", boot, table, app)
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * 0x9000)
    with pytest.raises(FlashError, match="overlaps"):
        plan_from_files("esp32s3", big, table, app)
    with pytest.raises(FlashError, match="not a partition table|MD5|no partition entries"):
        plan_from_files("esp32s3", boot, app, app)
    with pytest.raises(FlashError, match="idf.py build"):
        plan_from_build(tmp_path / "empty")
    assert main(["flash", "--dry-run"]) == 2


def test_cli_dry_run(build: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flash", "--build-dir", str(build), "--dry-run", "--erase-settings"]) == 0
    out = capsys.readouterr().out
    assert "erase 0x009000-0x00f000 nvs" in out
    assert "would run: " in out and "erase-region 0x9000 0x6000" in out
