"""Build and drive the firmware's host binaries from pytest (helpers, not tests)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
BUILD = FIRMWARE / "tests" / "build"


def make(*targets: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``make -C firmware <targets>`` with this interpreter for the generators."""
    if shutil.which("make") is None or shutil.which("gcc") is None:
        raise RuntimeError("make and gcc are needed for the firmware host tests")
    return subprocess.run(
        ["make", "-C", str(FIRMWARE), f"PYTHON={sys.executable}", *targets],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_parity(lines: list[str], timeout: float = 300) -> list[str]:
    """Feed commands to the ``ec_parity`` tool; one answer line per command."""
    proc = subprocess.run(
        [str(BUILD / "ec_parity")],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"ec_parity exited {proc.returncode}: {proc.stderr[-2000:]}")
    answers = proc.stdout.splitlines()
    if len(answers) != len(lines):
        raise AssertionError(f"{len(lines)} commands but {len(answers)} answers")
    return answers
