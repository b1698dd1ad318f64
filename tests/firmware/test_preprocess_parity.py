"""The preprocessing golden vectors (firmware/tests/vectors): the Python twin
(edgecascade.models.preprocess) makes exactly the stored int8 tensors, the C core makes
them on the host and under QEMU Cortex-M4, and the parameters the firmware reads from
the generated ec_settings.h are the ones the registry's input contract gives."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from edgecascade.models import preprocess as pre
from edgecascade.models.errors import ModelError
from edgecascade.models.registry import load_registry
from edgecascade.models.workload import get_workload

from .cbuild import FIRMWARE, make

GEN = FIRMWARE / "tests" / "gen_preprocess_vectors.py"


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_preprocess_vectors", GEN)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CASES = _gen().load()


def test_vectors_cover_every_input_kind() -> None:
    kinds = {(doc["kind"], doc.get("format")) for _, doc, _, _ in CASES}
    assert kinds >= {("image", "rgb565be"), ("image", "rgb888"), ("image", "gray8"),
                     ("imu", None)}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_python_twin_is_byte_identical(case) -> None:
    name, doc, data, outs = case
    assert _gen().compute(doc, data) == outs
    if doc["kind"] == "image":  # the emulator's entry point gives the same bytes
        contract = pre.ImageContract(doc["out_height"], doc["out_width"], bool(doc["invert"]),
                                     doc["mult"], doc["zero_point"])
        pixels, tensor = pre.image_to_input(data, doc["format"], doc["width"], doc["height"],
                                            contract, tuple(doc["crop"]))
        assert (pixels.tobytes(), tensor.tobytes()) == (outs["pixels"], outs["out"])
        assert tensor.shape == (doc["out_height"], doc["out_width"], 1)


def test_vector_parameters_are_the_registry_contracts() -> None:
    mnist = pre.image_contract(load_registry(verify=False).for_tier("mcu"))
    har = pre.imu_contract(get_workload("har").entry("mcu"))
    for _, doc, _, _ in CASES:
        if doc["kind"] == "image":
            assert (doc["mult"], doc["zero_point"]) == (mnist.mult, mnist.zero_point)
        else:
            assert (doc["mults"], doc["zero_point"], doc["steps"]) == (
                list(har.mults), har.zero_point, har.steps)


def test_imu_window_scaled_as_the_training_data() -> None:
    """A recorded window turned into MPU-6050 counts and back through the device's
    preprocessing lands on the training data's own model input (within one step)."""
    from edgecascade.models.tensors import samples_to_input

    wl = get_workload("har")
    ds = wl.load_split("test")
    spec = wl.entry("mcu").input
    contract = pre.imu_contract(wl.entry("mcu"))
    for i in range(0, len(ds.labels), 97):
        real = (ds.images[i].astype(np.float64) - ds.zero_point) * ds.scale
        counts = pre.real_to_counts(real.T, pre.HAR_TRAINING.units)
        device = pre.imu_to_input(counts, contract).astype(int)
        training = samples_to_input(ds.images[i:i + 1], ds.scale, ds.zero_point, spec)[0]
        diff = np.abs(device - training.astype(int))
        assert diff.max() <= 1 and (diff == 0).mean() > 0.9, i


def test_bad_input_is_one_clear_error() -> None:
    contract = pre.image_contract(load_registry(verify=False).for_tier("mcu"))
    with pytest.raises(ModelError, match="unknown pixel format"):
        pre.image_to_input(b"\0" * 12, "yuv422", 2, 2, contract)
    with pytest.raises(ModelError, match="bytes"):
        pre.image_to_input(b"\0" * 5, "rgb565be", 2, 2, contract)
    har = pre.imu_contract(get_workload("har").entry("mcu"))
    with pytest.raises(ModelError, match="int16"):
        pre.imu_to_input(np.zeros((128, 6), np.int32), har)
    with pytest.raises(ModelError, match="expected"):
        pre.imu_to_input(np.zeros((127, 6), np.int16), har)
    # a multiplier the C core's int32 cannot hold (it wrapped there, not in Python)
    assert pre.multiplier(1 / 255, 1 / 255) == 1 << pre.SHIFT
    with pytest.raises(ModelError, match="fixed point"):
        pre.multiplier(1 / 255, 1e-7)
    with pytest.raises(ModelError, match="fixed point"):
        pre.multiplier(1 / 255, 1e6)


def _settings_value(header: Path, name: str) -> str:
    m = re.search(rf"^#define {name} (.+)$", header.read_text(), re.MULTILINE)
    assert m, f"{name} missing from {header}"
    return m.group(1).strip()


def test_generated_headers_carry_the_contracts() -> None:
    mnist = pre.image_contract(load_registry(verify=False).for_tier("mcu"))
    h = FIRMWARE / "generated" / "ec_settings.h"
    assert _settings_value(h, "EC_PRE_Q_MULT") == str(mnist.mult)
    assert _settings_value(h, "EC_PRE_INVERT") == str(int(mnist.invert))
    har_h = Path(get_workload("har").root) / "firmware" / "ec_settings.h"
    har = pre.imu_contract(get_workload("har").entry("mcu"))
    assert _settings_value(har_h, "EC_PRE_IMU_RATE_HZ") == str(har.rate_hz)
    assert _settings_value(har_h, "EC_PRE_IMU_MULTS") == "{" + ", ".join(
        map(str, har.mults)) + "}"


def test_c_core_matches_on_host() -> None:
    proc = make("test")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "PASS preprocess_vectors" in proc.stdout and "PASS preprocess_rules" in proc.stdout


def test_har_firmware_header_is_generated() -> None:
    """models/har/firmware/ec_settings.h is what ``models import`` renders today."""
    import json

    from edgecascade.tools.models.settings_header import render_generic

    wl = get_workload("har")
    header = Path(wl.root) / "firmware" / "ec_settings.h"
    doc = json.loads(Path(wl.thresholds_path).read_text())
    assert header.read_text() == render_generic(doc, wl.entry("mcu")), \
        "stale: re-render models/har/firmware/ec_settings.h (settings_header.render_generic)"


def _pre_parity(lines: list[str]) -> list[str]:
    import subprocess

    from .cbuild import BUILD

    proc = make("pre-parity")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    run = subprocess.run([str(BUILD / "pre_parity")], input="".join(x + "\n" for x in lines),
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout.splitlines()
    assert len(out) == len(lines)
    return out


def test_c_and_python_agree_on_random_frames_and_windows() -> None:
    """Random sizes, crops (inside and outside the frame), formats, inversion,
    multipliers and zero points: the C core and the twin give the same bytes, or both
    refuse."""
    rng = np.random.default_rng(2026_12_07)
    fmts = ["gray8", "rgb565be", "rgb888"]
    lines, expect = [], []
    for _ in range(300):
        w, h = int(rng.integers(1, 90)), int(rng.integers(1, 70))
        ow, oh = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        lines.append(f"crop {w} {h} {ow} {oh}")
        expect.append(" ".join(map(str, pre.center_crop(w, h, ow, oh))))
        f = int(rng.integers(0, 3))
        data = rng.integers(0, 256, w * h * pre.PIXEL_BYTES[fmts[f]], dtype=np.uint8).tobytes()
        cw, ch = int(rng.integers(1, w + 2)), int(rng.integers(1, h + 2))  # may overflow
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        inv, mult = int(rng.integers(0, 2)), int(rng.integers(1, 1 << 22))
        zp = int(rng.integers(-128, 128))
        lines.append(f"image {f} {w} {h} {x} {y} {cw} {ch} {ow} {oh} {inv} {mult} {zp} "
                     f"{data.hex()}")
        try:
            gray = pre.to_gray(data, fmts[f], w, h)
            px = pre.resize_box(gray, (x, y, cw, ch), ow, oh, bool(inv))
            expect.append(f"{px.tobytes().hex()} {pre.quantize(px, mult, zp).tobytes().hex()}")
        except ModelError:
            expect.append("err -1")
        steps, chans = int(rng.integers(1, 130)), int(rng.integers(1, 8))
        counts = rng.integers(-32768, 32768, (steps, chans)).astype(np.int16)
        mults = rng.integers(1, 20000, chans)
        lines.append(f"imu {steps} {chans} {zp} {','.join(map(str, mults))} "
                     f"{counts.astype('<i2').tobytes().hex()}")
        q = pre.quantize(counts.T, mults[:, None], zp)
        expect.append(q.tobytes().hex())
    got = _pre_parity(lines)
    bad = [(line[:60], g[:40], e[:40]) for line, g, e in zip(lines, got, expect, strict=True)
           if g != e]
    assert not bad, bad[:5]
    assert sum(e == "err -1" for e in expect) > 10  # the refusals were exercised
