"""``edgecascade flash``: merge bootloader, partition table and app, then write them.

A thin wrapper over esptool's command line (``python -m esptool``, v4.7+):

1. ``merge-bin`` the three images into one file at their flash offsets (local, no
   board needed), then
2. ``write-flash 0x0 merged.bin`` to the board.

The images come from an ESP-IDF build directory (``build/flasher_args.json``, which
lists the files, offsets, chip and flash settings) or are given one by one.
``--dry-run`` merges and prints the write command without touching a port.
The plan is pure data (:class:`FlashPlan`), so the command lines are testable.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecascade.errors import EmulatorError

#: Second-stage bootloader offset per chip (ESP-IDF defaults).
BOOTLOADER_OFFSETS = {
    "esp32": 0x1000,
    "esp32s2": 0x1000,
    "esp32s3": 0x0,
    "esp32c2": 0x0,
    "esp32c3": 0x0,
    "esp32c6": 0x0,
    "esp32h2": 0x0,
    "esp32p4": 0x2000,
}
PARTITION_TABLE_OFFSET = 0x8000
APP_OFFSET = 0x10000
FLASH_MODES = ("qio", "qout", "dio", "dout", "keep")


class FlashError(EmulatorError, ValueError):
    """A flash input is missing or wrong; ``what`` names it."""

    def __init__(self, what: str, why: str) -> None:
        self.what = what
        self.why = why
        super().__init__(f"{what}: {why}")


@dataclass(frozen=True)
class FlashPlan:
    chip: str
    images: tuple[tuple[int, Path], ...]
    merged: Path
    port: str | None = None
    baud: int = 460800
    flash_mode: str = "dio"
    flash_size: str = "keep"
    flash_freq: str = "keep"
    python: str = field(default=sys.executable)

    def merge_command(self) -> list[str]:
        cmd = [self.python, "-m", "esptool", "--chip", self.chip, "merge-bin",
               "-o", str(self.merged), "--flash-mode", self.flash_mode,
               "--flash-size", self.flash_size, "--flash-freq", self.flash_freq]
        for offset, path in self.images:
            cmd += [hex(offset), str(path)]
        return cmd

    def write_command(self) -> list[str]:
        cmd = [self.python, "-m", "esptool", "--chip", self.chip]
        if self.port:
            cmd += ["--port", self.port]
        cmd += ["--baud", str(self.baud), "write-flash", "0x0", str(self.merged)]
        return cmd


def _check_images(images: list[tuple[int, Path]]) -> tuple[tuple[int, Path], ...]:
    ordered = sorted(images)
    for offset, path in ordered:
        if not path.is_file():
            raise FlashError(str(path), "image file missing")
        if offset % 0x1000:
            raise FlashError(str(path), f"offset {hex(offset)} is not 4 KB aligned")
    for (o1, p1), (o2, _) in zip(ordered, ordered[1:], strict=False):
        if o1 + p1.stat().st_size > o2:
            raise FlashError(str(p1), f"image at {hex(o1)} overlaps the next at {hex(o2)}")
    return tuple(ordered)


def plan_from_files(
    chip: str, bootloader: Path, partitions: Path, app: Path, merged: Path, *,
    app_offset: int = APP_OFFSET, **kwargs: Any,
) -> FlashPlan:
    if chip not in BOOTLOADER_OFFSETS:
        raise FlashError("chip", f"{chip!r} is not one of {', '.join(BOOTLOADER_OFFSETS)}")
    images = [(BOOTLOADER_OFFSETS[chip], bootloader), (PARTITION_TABLE_OFFSET, partitions),
              (app_offset, app)]
    return FlashPlan(chip, _check_images(images), merged, **kwargs)


def plan_from_build(build_dir: Path, merged: Path | None = None, **kwargs: Any) -> FlashPlan:
    """Read ``flasher_args.json`` that ``idf.py build`` writes."""
    args_file = build_dir / "flasher_args.json"
    try:
        doc = json.loads(args_file.read_text())
        files = {int(k, 0): build_dir / v for k, v in doc["flash_files"].items()}
        settings = doc.get("flash_settings", {})
        chip = kwargs.pop("chip", None) or doc.get("extra_esptool_args", {}).get("chip")
    except FileNotFoundError:
        raise FlashError(str(args_file), "missing: run `idf.py build` first") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FlashError(str(args_file), f"not an ESP-IDF flasher_args.json ({exc})") from None
    if chip not in BOOTLOADER_OFFSETS:
        raise FlashError("chip", f"{chip!r} is not one of {', '.join(BOOTLOADER_OFFSETS)}")
    for key in ("flash_mode", "flash_size", "flash_freq"):
        if key in settings and key not in kwargs:
            kwargs[key] = settings[key]
    return FlashPlan(chip, _check_images(list(files.items())),
                     merged or build_dir / "edgecascade-merged.bin", **kwargs)


def run_plan(plan: FlashPlan, *, dry_run: bool, echo: Any = print) -> int:
    """Merge (always), then write unless ``dry_run``; returns the exit status."""
    echo("$ " + shlex.join(plan.merge_command()))
    merged = subprocess.run(plan.merge_command(), capture_output=True, text=True)
    if merged.returncode != 0:
        echo(merged.stdout + merged.stderr)
        return merged.returncode
    echo(f"merged {plan.merged} ({plan.merged.stat().st_size} bytes)")
    echo(("would run: " if dry_run else "$ ") + shlex.join(plan.write_command()))
    if dry_run:
        return 0
    if not plan.port:
        echo("no --port given")
        return 2
    return subprocess.run(plan.write_command()).returncode
