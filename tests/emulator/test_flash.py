"""``edgecascade flash``: command construction and a real esptool merge of dummy images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from edgecascade.cli import main
from edgecascade.emulator.flash import FlashError, plan_from_build, plan_from_files, run_plan


def dummy_images(d: Path) -> tuple[Path, Path, Path]:
    d.mkdir(parents=True, exist_ok=True)
    boot, parts, app = d / "bootloader.bin", d / "partition-table.bin", d / "app.bin"
    boot.write_bytes(b"\x11" * 300)  # no 0xE9 magic: esptool leaves the header alone
    parts.write_bytes(b"\x22" * 100)
    app.write_bytes(b"\x33" * 500)
    return boot, parts, app


def test_plan_commands(tmp_path):
    boot, parts, app = dummy_images(tmp_path)
    plan = plan_from_files("esp32s3", boot, parts, app, tmp_path / "m.bin", port="/dev/ttyUSB0")
    merge = plan.merge_command()
    assert merge[:5] == [sys.executable, "-m", "esptool", "--chip", "esp32s3"]
    assert merge[5:7] == ["merge-bin", "-o"]
    assert merge[-6:] == ["0x0", str(boot), "0x8000", str(parts), "0x10000", str(app)]
    assert plan.write_command()[3:] == ["--chip", "esp32s3", "--port", "/dev/ttyUSB0", "--baud",
                                        "460800", "write-flash", "0x0", str(tmp_path / "m.bin")]
    classic = plan_from_files("esp32", boot, parts, app, tmp_path / "m.bin")
    assert classic.images[0][0] == 0x1000  # the ESP32's bootloader offset


def test_dry_run_merges_for_real(tmp_path):
    boot, parts, app = dummy_images(tmp_path)
    plan = plan_from_files("esp32s3", boot, parts, app, tmp_path / "m.bin")
    lines: list[str] = []
    assert run_plan(plan, dry_run=True, echo=lines.append) == 0
    merged = (tmp_path / "m.bin").read_bytes()
    assert merged[:300] == b"\x11" * 300
    assert merged[0x8000 : 0x8000 + 100] == b"\x22" * 100
    assert merged[0x10000:] == b"\x33" * 500
    assert set(merged[300:0x8000]) == {0xFF}  # erased flash between images
    assert lines[-1].startswith("would run: ") and "write-flash" in lines[-1]


def test_build_dir_and_cli(tmp_path, capsys):
    build = tmp_path / "build"
    boot, parts, app = dummy_images(build)
    (build / "flasher_args.json").write_text(json.dumps({
        "flash_files": {"0x0": "bootloader.bin", "0x8000": "partition-table.bin",
                        "0x10000": "app.bin"},
        "flash_settings": {"flash_mode": "dio", "flash_size": "4MB", "flash_freq": "80m"},
        "extra_esptool_args": {"chip": "esp32s3"},
    }))
    plan = plan_from_build(build)
    assert (plan.chip, plan.flash_size, plan.flash_freq) == ("esp32s3", "4MB", "80m")
    assert main(["flash", "--build-dir", str(build), "--dry-run"]) == 0
    assert (build / "edgecascade-merged.bin").is_file()
    assert "would run:" in capsys.readouterr().out


def test_bad_inputs_are_clear_errors(tmp_path):
    boot, parts, app = dummy_images(tmp_path)
    with pytest.raises(FlashError, match="missing"):
        plan_from_files("esp32s3", tmp_path / "nope.bin", parts, app, tmp_path / "m.bin")
    with pytest.raises(FlashError, match="chip"):
        plan_from_files("esp8266x", boot, parts, app, tmp_path / "m.bin")
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * 0x9000)
    with pytest.raises(FlashError, match="overlaps"):
        plan_from_files("esp32s3", big, parts, app, tmp_path / "m.bin")
    with pytest.raises(FlashError, match="idf.py build"):
        plan_from_build(tmp_path / "empty")
    assert main(["flash", "--dry-run"]) == 2
