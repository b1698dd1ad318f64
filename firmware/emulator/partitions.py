"""ESP-IDF partition tables: the CSV the firmware ships and the binary a build flashes.

The binary form (what ``idf.py build`` writes to ``partition_table/partition-table.bin``
and flashes at 0x8000) is a list of 32-byte little-endian entries::

    u16 magic 0x50AA | u8 type | u8 subtype | u32 offset | u32 size | char label[16] | u32 flags

followed by one MD5 entry (``0xEBEB``, 14 bytes of 0xFF, the MD5 of every entry before
it) and 0xFF padding up to 0xC00 bytes. ``edgecascade flash`` reads the built table to
learn where the settings (NVS) live, so it never needs its own copy of the layout.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from edgecascade.errors import EmulatorError

ENTRY = struct.Struct("<HBBII16sI")
MAGIC = 0x50AA
MD5_MAGIC = b"\xeb\xeb" + b"\xff" * 14
TABLE_BYTES = 0xC00
SECTOR = 0x1000
APP_ALIGN = 0x10000

TYPES = {"app": 0x00, "data": 0x01}
SUBTYPES = {
    "app": {"factory": 0x00, "test": 0x20, **{f"ota_{i}": 0x10 + i for i in range(16)}},
    "data": {"ota": 0x00, "phy": 0x01, "nvs": 0x02, "coredump": 0x03, "nvs_keys": 0x04,
             "efuse": 0x05, "undefined": 0x06, "fat": 0x81, "spiffs": 0x82, "littlefs": 0x83},
}
FLAGS = {"encrypted": 0x1, "readonly": 0x2}


class PartitionError(EmulatorError, ValueError):
    """A partition table is malformed; ``where`` names the line, entry or field."""

    def __init__(self, where: str, why: str) -> None:
        self.where = where
        self.why = why
        super().__init__(f"{where}: {why}")


@dataclass(frozen=True)
class Partition:
    label: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.size

    def overlaps(self, start: int, end: int) -> bool:
        """True when ``[start, end)`` shares a byte with this partition."""
        return start < self.end and self.offset < end

    @property
    def is_nvs(self) -> bool:
        return self.type == TYPES["data"] and self.subtype == SUBTYPES["data"]["nvs"]

    @property
    def is_app(self) -> bool:
        return self.type == TYPES["app"]


def _number(text: str, where: str) -> int:
    t = text.strip().upper()
    scale = 1
    if t.endswith("K"):
        t, scale = t[:-1], 1024
    elif t.endswith("M"):
        t, scale = t[:-1], 1024 * 1024
    try:
        return int(t, 0) * scale
    except ValueError:
        raise PartitionError(where, f"{text.strip()!r} is not a number") from None


def _code(table: dict[str, int], text: str, where: str, what: str) -> int:
    key = text.strip().lower()
    if key in table:
        return table[key]
    value = _number(key, where)
    if not 0 <= value <= 0xFE:
        raise PartitionError(where, f"{what} {text.strip()!r} out of range")
    return value


def parse_csv(text: str) -> tuple[Partition, ...]:
    """Parse the ESP-IDF CSV form; every row needs an explicit offset and size."""
    parts: list[Partition] = []
    for n, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        where = f"line {n}"
        cells = [c.strip() for c in body.split(",")]
        if len(cells) < 5 or not cells[3] or not cells[4]:
            raise PartitionError(where, "need name, type, subtype, offset, size")
        label, type_name = cells[0], cells[1].lower()
        if not 1 <= len(label.encode()) <= 16:
            raise PartitionError(where, f"label {label!r} must be 1..16 bytes")
        type_code = _code(TYPES, type_name, where, "type")
        subtype = _code(SUBTYPES.get(type_name, {}), cells[2], where, "subtype")
        flags = 0
        for flag in (f.strip() for f in (cells[5] if len(cells) > 5 else "").split(":")):
            if flag and flag not in FLAGS:
                raise PartitionError(where, f"unknown flag {flag!r}")
            flags |= FLAGS.get(flag, 0)
        parts.append(Partition(label, type_code, subtype, _number(cells[3], where),
                               _number(cells[4], where), flags))
    return check(tuple(parts))


def check(parts: tuple[Partition, ...]) -> tuple[Partition, ...]:
    """Alignment, no overlaps, unique labels, nothing below the table itself."""
    labels = [p.label for p in parts]
    for p in parts:
        if labels.count(p.label) > 1:
            raise PartitionError(p.label, "label used twice")
        align = APP_ALIGN if p.is_app else SECTOR
        if p.offset % align or p.size % SECTOR or p.size == 0:
            raise PartitionError(p.label, f"offset {p.offset:#x} / size {p.size:#x} not aligned "
                                          f"to {align:#x} / {SECTOR:#x}")
        if p.offset < 0x9000:
            raise PartitionError(p.label, f"offset {p.offset:#x} is below 0x9000")
    ordered = sorted(parts, key=lambda p: p.offset)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.end > b.offset:
            raise PartitionError(a.label, f"overlaps {b.label}")
    return parts


def to_binary(parts: tuple[Partition, ...]) -> bytes:
    body = b"".join(ENTRY.pack(MAGIC, p.type, p.subtype, p.offset, p.size,
                               p.label.encode(), p.flags) for p in parts)
    table = body + MD5_MAGIC + hashlib.md5(body).digest()
    if len(table) > TABLE_BYTES:
        raise PartitionError("table", f"{len(parts)} entries do not fit in {TABLE_BYTES:#x}")
    return table + b"\xff" * (TABLE_BYTES - len(table))


def from_binary(data: bytes, where: str = "partition table") -> tuple[Partition, ...]:
    """Decode a built table; checks the MD5 entry when the table has one."""
    parts: list[Partition] = []
    for pos in range(0, len(data) - ENTRY.size + 1, ENTRY.size):
        chunk = data[pos:pos + ENTRY.size]
        if chunk[:16] == MD5_MAGIC:
            if hashlib.md5(data[:pos]).digest() != chunk[16:]:
                raise PartitionError(where, "MD5 entry does not match the table")
            break
        magic, type_code, subtype, offset, size, label, flags = ENTRY.unpack(chunk)
        if magic != MAGIC:
            break
        parts.append(Partition(label.rstrip(b"\0").decode(errors="replace"), type_code,
                               subtype, offset, size, flags))
    if not parts:
        raise PartitionError(where, "no partition entries (not a partition table?)")
    return check(tuple(parts))


def load(path: Path) -> tuple[Partition, ...]:
    """A ``.csv`` or a built ``.bin`` table."""
    try:
        if path.suffix.lower() == ".csv":
            return parse_csv(path.read_text())
        return from_binary(path.read_bytes(), str(path))
    except FileNotFoundError:
        raise PartitionError(str(path), "file missing") from None

