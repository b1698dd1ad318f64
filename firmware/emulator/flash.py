"""``edgecascade flash``: write bootloader, partition table and app, keep the settings.

A thin wrapper over esptool's command line (``python -m esptool``, **v5**: the
``write-flash`` / ``erase-region`` / ``merge-bin`` / ``--flash-mode`` names; pyproject's
``flash`` and ``dev`` extras pin ``esptool>=5,<6`` and :func:`check_esptool` refuses any
other major version with a clear error instead of a usage message from esptool).

One ``write-flash`` writes each image at its own offset. esptool erases only the 4 KB
sectors each image covers, so everything else on the board stays: above all the NVS
partition (Wi-Fi, broker, device id, thresholds and the boot/epoch counter). The plan
reads the built partition table to learn where NVS is and refuses any image that would
cover it. ``--erase-settings`` adds an ``erase-region`` of NVS before the write (a
factory reset: the board boots unprovisioned, epoch 1).

The images come from an ESP-IDF build directory (``build/flasher_args.json``, which
lists the files, offsets, chip and flash settings) or are given one by one.
``--merged PATH`` also writes one merged image (``merge-bin``) for factory programming;
it is never what ``flash`` writes, because a merged image fills the gaps, NVS included,
with 0xFF. ``--dry-run`` prints the commands without touching a port. The plan is pure
data (:class:`FlashPlan`), so the command lines are testable.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from edgecascade.errors import EmulatorError

from .partitions import SECTOR, Partition, PartitionError, from_binary

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
FLASH_MODES = ("qio", "qout", "dio", "dout", "keep")
#: The esptool major version whose command names this module speaks.
ESPTOOL_MAJOR = 5


class FlashError(EmulatorError, ValueError):
    """A flash input is missing or wrong; ``what`` names it."""

    def __init__(self, what: str, why: str) -> None:
        self.what = what
        self.why = why
        super().__init__(f"{what}: {why}")


def sector_end(offset: int, size: int) -> int:
    """End of the flash esptool erases to write ``size`` bytes at ``offset``."""
    return offset + -(-size // SECTOR) * SECTOR


@dataclass(frozen=True)
class Write:
    offset: int
    path: Path
    size: int

    @property
    def end(self) -> int:
        return sector_end(self.offset, self.size)


@dataclass(frozen=True)
class FlashPlan:
    chip: str
    writes: tuple[Write, ...]
    partitions: tuple[Partition, ...]
    port: str | None = None
    baud: int = 460800
    flash_mode: str = "dio"
    flash_size: str = "keep"
    flash_freq: str = "keep"
    erase_settings: bool = False
    merged: Path | None = None
    python: str = field(default=sys.executable)

    @property
    def settings(self) -> tuple[Partition, ...]:
        """The NVS partitions: what a flash keeps unless ``erase_settings``."""
        return tuple(p for p in self.partitions if p.is_nvs)

    def _esptool(self) -> list[str]:
        cmd = [self.python, "-m", "esptool", "--chip", self.chip]
        if self.port:
            cmd += ["--port", self.port]
        return cmd + ["--baud", str(self.baud)]

    def _flash_args(self) -> list[str]:
        return ["--flash-mode", self.flash_mode, "--flash-size", self.flash_size,
                "--flash-freq", self.flash_freq]

    def _pairs(self) -> list[str]:
        return [a for w in self.writes for a in (hex(w.offset), str(w.path))]

    def erase_commands(self) -> list[list[str]]:
        if not self.erase_settings:
            return []
        return [self._esptool() + ["erase-region", hex(p.offset), hex(p.size)]
                for p in self.settings]

    def write_command(self) -> list[str]:
        return self._esptool() + ["write-flash", *self._flash_args(), *self._pairs()]

    def merge_command(self) -> list[str] | None:
        if self.merged is None:
            return None
        return [self.python, "-m", "esptool", "--chip", self.chip, "merge-bin",
                "-o", str(self.merged), *self._flash_args(), *self._pairs()]

    def layout(self) -> list[str]:
        """Human-readable: what is written, what is kept, what is erased."""
        lines = [f"write {w.offset:#08x}-{w.end:#08x} {w.path.name}" for w in self.writes]
        verb = "erase" if self.erase_settings else "keep "
        lines += [f"{verb} {p.offset:#08x}-{p.end:#08x} {p.label} (settings, epoch)"
                  for p in self.settings]
        return lines


def _writes(images: list[tuple[int, Path]]) -> tuple[Write, ...]:
    writes = []
    for offset, path in sorted(images):
        if not path.is_file():
            raise FlashError(str(path), "image file missing")
        if offset % SECTOR:
            raise FlashError(str(path), f"offset {hex(offset)} is not 4 KB aligned")
        writes.append(Write(offset, path, path.stat().st_size))
    for a, b in zip(writes, writes[1:], strict=False):
        if a.offset + a.size > b.offset:
            raise FlashError(str(a.path), f"image at {hex(a.offset)} overlaps the next at "
                                          f"{hex(b.offset)}")
    return tuple(writes)


def _table(writes: tuple[Write, ...]) -> tuple[Partition, ...]:
    table = next((w for w in writes if w.offset == PARTITION_TABLE_OFFSET), None)
    if table is None:
        raise FlashError("partition table", f"no image at {PARTITION_TABLE_OFFSET:#x}")
    try:
        return from_binary(table.path.read_bytes(), str(table.path))
    except PartitionError as exc:
        raise FlashError(str(table.path), exc.why) from None


def _check_layout(writes: tuple[Write, ...], parts: tuple[Partition, ...]) -> None:
    """Every image above the table lies inside one partition; none touches NVS."""
    for w in writes:
        for p in parts:
            if p.is_nvs and p.overlaps(w.offset, w.end):
                raise FlashError(str(w.path), f"{w.offset:#x}-{w.end:#x} would overwrite the "
                                              f"settings partition {p.label!r} "
                                              f"({p.offset:#x}-{p.end:#x})")
        if w.offset <= PARTITION_TABLE_OFFSET:
            continue
        home = next((p for p in parts if p.offset <= w.offset < p.end), None)
        if home is None:
            raise FlashError(str(w.path), f"offset {w.offset:#x} is in no partition")
        if w.offset + w.size > home.end:
            raise FlashError(str(w.path), f"{w.size} bytes do not fit in {home.label!r} "
                                          f"({home.end - w.offset} bytes from {w.offset:#x})")


def _chip(chip: str | None) -> str:
    if chip not in BOOTLOADER_OFFSETS:
        raise FlashError("chip", f"{chip!r} is not one of {', '.join(BOOTLOADER_OFFSETS)}")
    return chip


def boot_app(parts: tuple[Partition, ...]) -> Partition:
    """The app partition a blank otadata boots: factory if present, else the first app."""
    apps = sorted((p for p in parts if p.is_app), key=lambda p: (p.subtype != 0, p.offset))
    if not apps:
        raise FlashError("partition table", "has no app partition")
    return apps[0]


def plan_from_files(
    chip: str, bootloader: Path, partitions: Path, app: Path, *,
    app_offset: int | None = None, **kwargs: Any,
) -> FlashPlan:
    """Three images; the app goes to ``app_offset`` or the table's boot app partition."""
    chip = _chip(chip)
    head = _writes([(BOOTLOADER_OFFSETS[chip], bootloader), (PARTITION_TABLE_OFFSET, partitions)])
    parts = _table(head)
    offset = boot_app(parts).offset if app_offset is None else app_offset
    writes = _writes([(w.offset, w.path) for w in head] + [(offset, app)])
    _check_layout(writes, parts)
    return FlashPlan(chip, writes, parts, **kwargs)


def plan_from_build(build_dir: Path, **kwargs: Any) -> FlashPlan:
    """Read ``flasher_args.json`` that ``idf.py build`` writes."""
    args_file = build_dir / "flasher_args.json"
    try:
        doc = json.loads(args_file.read_text())
        files = [(int(k, 0), build_dir / v) for k, v in doc["flash_files"].items()]
        settings = doc.get("flash_settings", {})
        chip = kwargs.pop("chip", None) or doc.get("extra_esptool_args", {}).get("chip")
    except FileNotFoundError:
        raise FlashError(str(args_file), "missing: run `idf.py build` first") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FlashError(str(args_file), f"not an ESP-IDF flasher_args.json ({exc})") from None
    chip = _chip(chip)
    for key in ("flash_mode", "flash_size", "flash_freq"):
        if key in settings and key not in kwargs:
            kwargs[key] = settings[key]
    writes = _writes(files)
    parts = _table(writes)
    _check_layout(writes, parts)
    return FlashPlan(chip, writes, parts, **kwargs)


def esptool_version() -> str | None:
    try:
        return metadata.version("esptool")
    except metadata.PackageNotFoundError:
        return None


def check_esptool(version: str | None) -> None:
    """Refuse an esptool whose command names differ from the ones this module uses."""
    if version is None:
        raise FlashError("esptool", "not installed: pip install 'edgecascade[flash]'")
    major = version.split(".", 1)[0]
    if major != str(ESPTOOL_MAJOR):
        raise FlashError("esptool", f"version {version} found; edgecascade flash uses "
                                    f"esptool {ESPTOOL_MAJOR}.x command names: "
                                    "pip install 'edgecascade[flash]'")


def run_plan(plan: FlashPlan, *, dry_run: bool, echo: Any = print) -> int:
    """Merge (if asked, local), then erase NVS (if asked) and write, unless ``dry_run``."""
    check_esptool(esptool_version())
    for line in plan.layout():
        echo(line)
    merge = plan.merge_command()
    if merge is not None:
        echo("$ " + shlex.join(merge))
        done = subprocess.run(merge, capture_output=True, text=True)
        if done.returncode != 0:
            echo(done.stdout + done.stderr)
            return done.returncode
        size = plan.merged.stat().st_size if plan.merged else 0
        echo(f"merged {plan.merged} ({size} bytes; for factory "
             "programming only, it fills NVS with 0xFF)")
    board = [*plan.erase_commands(), plan.write_command()]
    if dry_run:
        for cmd in board:
            echo("would run: " + shlex.join(cmd))
        return 0
    if not plan.port:
        echo("no --port given")
        return 2
    for cmd in board:
        echo("$ " + shlex.join(cmd))
        status = subprocess.run(cmd).returncode
        if status != 0:
            return status
    return 0
