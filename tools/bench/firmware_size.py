"""Firmware flash size on the Cortex-M4, per float ABI, against the 8 KB core budget.

    python -m edgecascade.tools.bench.firmware_size

Runs ``make -C firmware size`` (arm-none-eabi-gcc, ``-Os``, newlib-nano, section GC) and
reads its linked figures: the core's flash bytes (text + data) in a linked image, minus
an empty program's, so the libgcc and libc code the core pulls in is counted. Hard-float
(``-mfpu=fpv4-sp-d16 -mfloat-abi=hard``) is what the targets have (Cortex-M4F, the
ESP32-S3's FPU); soft-float is the row for FPU-less parts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from edgecascade.tools.bench.common import Row, bench_main

COMMAND = "python -m edgecascade.tools.bench.firmware_size"
FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
BUDGET = 8 * 1024


def linked_sizes() -> dict[str, int]:
    """``{"core-linked-hard": bytes, ...}`` from ``make size``."""
    if shutil.which("arm-none-eabi-gcc") is None:
        raise RuntimeError("arm-none-eabi-gcc not installed (Debian: gcc-arm-none-eabi)")
    proc = subprocess.run(["make", "-s", "-C", str(FIRMWARE), "size"], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"make size failed: {proc.stderr[-400:]}")
    return {f"{what}-{abi}": int(n) for n, what, abi in re.findall(
        r"^\s*(\d+)\s+(core-linked|all-linked)-(hard|soft)$", proc.stdout, re.MULTILINE)}


def run(quick: bool = False) -> list[Row]:
    s = linked_sizes()
    return [
        Row("firmware core linked on Cortex-M4, hard-float ABI (M4F, ESP32-S3) vs the 8 KB "
            "budget", s["core-linked-hard"], BUDGET, "bytes", COMMAND, target="ratio <= 1"),
        Row("firmware core linked, soft-float ABI (FPU-less parts) vs hard-float",
            s["core-linked-soft"], s["core-linked-hard"], "bytes", COMMAND),
        Row("firmware core + provisioning + OTA linked, hard-float vs the core alone",
            s["all-linked-hard"], s["core-linked-hard"], "bytes", COMMAND),
    ]


if __name__ == "__main__":
    bench_main(run, __doc__)
