"""The C core's unit and golden-vector tests on the target architecture.

Cortex-M4 under QEMU (``qemu-system-arm -M mps2-an386``), bare metal, hard-float
(M4F, ESP32-S3-class FPU) and soft-float ABIs; newlib semihosting carries the test
runner's exit status out of QEMU (``make -C firmware qemu-test``).
"""

from __future__ import annotations

import re
import shutil

import pytest

from .cbuild import BUILD, make

MISSING = [tool for tool in ("qemu-system-arm", "arm-none-eabi-gcc") if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"{', '.join(MISSING)} not installed (Debian: qemu-system-arm, gcc-arm-none-eabi, "
           "libnewlib-arm-none-eabi; scripts/test installs them)",
)
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


def test_core_tests_pass_on_cortex_m4_both_float_abis() -> None:
    proc = make("qemu-test")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "== Cortex-M4 hard-float" in out and "== Cortex-M4 soft-float" in out, out[-4000:]
    runs = [(int(p), int(f)) for p, f in SUMMARY.findall(proc.stdout)]
    assert len(runs) == 2, out[-4000:]
    assert runs[0] == runs[1] and runs[0][1] == 0 and runs[0][0] >= 14, runs
    assert "PASS report_vectors" in proc.stdout and "PASS policy" in proc.stdout
    # the preprocessing golden vectors (firmware/tests/vectors), on both ABIs
    assert proc.stdout.count("PASS preprocess_vectors") == 2, out[-4000:]


def test_a_failing_check_on_the_target_fails_the_make_target() -> None:
    """A deliberately failing test (-DEC_TEST_FORCE_FAIL) must reach make's exit status."""
    fail_dir = BUILD / "qemu-fail"
    shutil.rmtree(fail_dir, ignore_errors=True)
    proc = make("qemu-test", "QEMU_DEFS=-DEC_TEST_FORCE_FAIL", f"QEMU_BUILD={fail_dir}")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    assert "FAIL forced_failure" in proc.stdout, out[-4000:]
    assert SUMMARY.search(proc.stdout) and SUMMARY.findall(proc.stdout)[-1][1] == "1"
