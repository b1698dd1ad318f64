"""The generated C compiles, and its complexity score matches Python bit for bit."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgecascade.models.cascade import load_settings
from edgecascade.models.dataset import Dataset
from edgecascade.models.stats import complexity
from edgecascade.tools.models.paths import FIRMWARE_GENERATED, MODEL_DATA_C

CC = shutil.which("cc") or shutil.which("gcc")

PROGRAM = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "ec_settings.h"
#include "mcu_model_data.h"

/* The definition the firmware core implements (see ec_settings.h). */
static float complexity(const uint8_t *x) {
    uint32_t sum = 0;
    for (int i = 0; i < EC_INPUT_PIXELS; i++) {
        int d = (int)x[i] - (int)ec_mean_image[i];
        sum += (uint32_t)(d < 0 ? -d : d);
    }
    return (float)sum / (float)(EC_INPUT_PIXELS * 255);
}

int main(void) {
    uint8_t frame[EC_INPUT_PIXELS];
    if (((uintptr_t)ec_mcu_model % 16u) != 0 || ec_mcu_model_len != EC_MCU_MODEL_LEN) return 3;
    if (strlen(ec_mcu_model_sha256) != 64) return 4;
    while (fread(frame, 1, sizeof frame, stdin) == sizeof frame) {
        float c = complexity(frame);
        uint32_t bits;
        memcpy(&bits, &c, sizeof bits);
        printf("%08x\n", (unsigned)bits);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if CC is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("cgen")
    (d / "main.c").write_text(PROGRAM)
    exe = d / "complexity"
    subprocess.run([CC, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
                    f"-I{FIRMWARE_GENERATED}", str(d / "main.c"), str(MODEL_DATA_C),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    return exe


def test_c_complexity_is_bit_exact(binary: Path, test_split: Dataset) -> None:
    mean = load_settings().mean_image
    rng = np.random.default_rng(7)
    frames = np.concatenate([
        test_split.images,
        rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
        np.zeros((1, 28, 28), np.uint8), np.full((1, 28, 28), 255, np.uint8),
    ])
    proc = subprocess.run([str(binary)], input=frames.tobytes(), capture_output=True,
                          check=True)
    got = [int(h, 16) for h in proc.stdout.split()]
    want = [struct.unpack("<I", struct.pack("<f", complexity(f, mean)))[0] for f in frames]
    assert len(got) == len(frames)
    bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    assert not bad, f"C and Python disagree on frames {bad[:10]}"


def test_model_array_compiles_as_cpp(tmp_path: Path) -> None:
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    src = tmp_path / "use.cc"
    src.write_text('#include "ec_settings.h"\n#include "mcu_model_data.h"\n'
                   "static_assert(alignof(decltype(ec_mcu_model[0])) >= 1, \"\");\n"
                   "int main() { return ec_mcu_model_len == EC_MCU_MODEL_LEN ? "
                   "ec_mean_image[0] * 0 : 1; }\n")
    subprocess.run([cxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", f"-I{FIRMWARE_GENERATED}",
                    "-x", "c++", str(MODEL_DATA_C), "-x", "c++", str(src), "-o",
                    str(tmp_path / "a.out")], check=True, capture_output=True, text=True)
    assert subprocess.run([str(tmp_path / "a.out")], check=False).returncode == 0
