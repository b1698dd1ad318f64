"""The ESP-IDF app's generated inputs are fresh and agree with the real model files.

The app itself needs the Xtensa toolchain; what can drift without it is checked here:
the replayed frames, the op resolver against the model's ops, the ring defaults
against the emulator's, and the whole on-device decision on real TFLM outputs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from edgecascade.emulator import policy, ring

from .cbuild import FIRMWARE, ROOT, run_parity
from .test_parity import bits

APP = FIRMWARE / "esp32" / "main"
MCU_MODEL = ROOT / "models" / "mnist-mcu.tflite"
HAR_MCU_MODEL = ROOT / "models" / "har" / "har-mcu.tflite"  # the IMU frame source's model


def test_replay_frames_header_is_fresh() -> None:
    proc = subprocess.run(
        [sys.executable, str(FIRMWARE / "esp32" / "gen_replay_frames.py"), "--check"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr


def _camel_to_op(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper().replace("2_D", "_2D")


def test_op_resolver_registers_exactly_the_model_ops() -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    model_ops: set[str] = set()
    for path in (MCU_MODEL, HAR_MCU_MODEL):  # the app builds with either
        interp = Interpreter(
            str(path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        model_ops |= {d["op_name"] for d in interp._get_ops_details()}
    source = (APP / "model_runner.cc").read_text()
    registered = {_camel_to_op(m) for m in re.findall(r"resolver->Add(\w+)\(\)", source)}
    assert registered == model_ops
    declared = int(re.search(r"kNumOps = (\d+);", source).group(1))  # type: ignore[union-attr]
    assert declared == len(model_ops)


def test_kconfig_ring_defaults_match_the_emulator() -> None:
    kconfig = (APP / "Kconfig.projbuild").read_text()

    def default(option: str) -> int:
        m = re.search(rf"config {option}\n(?:.*\n)*?\s+default (\d+)", kconfig)
        assert m, option
        return int(m.group(1))

    assert default("EC_RING_SLOTS") == ring.DEFAULT_SLOTS
    assert default("EC_RING_POOL_BYTES") == ring.DEFAULT_POOL_BYTES


def test_generated_settings_provide_what_the_app_uses() -> None:
    header = (ROOT / "firmware" / "generated" / "ec_settings.h").read_text()
    har = (ROOT / "models" / "har" / "firmware" / "ec_settings.h").read_text()  # IMU source
    app = (APP / "app_main.c").read_text()
    used = set(re.findall(r"\b(EC_(?:DEVICE_CONF|DEVICE_MARGIN|COMPLEXITY_LIMIT|MODEL_ID|"
                          r"MODEL_VERSION|INPUT_\w+|NUM_CLASSES|TENSOR_ARENA_BYTES))\b", app))
    defined = set(re.findall(r"#define (EC_\w+)", header))
    defined_har = set(re.findall(r"#define (EC_\w+)", har))
    used.discard("EC_INPUT_DIM2")  # read only under #if EC_INPUT_RANK > 2
    assert used and used <= defined | defined_har, used - defined - defined_har
    assert "ec_mean_image" in header and "ec_mean_input" in har


@pytest.mark.usefixtures("parity_tool")
def test_device_decisions_on_real_tflm_outputs() -> None:
    """The MCU pipeline on real frames: quantize -> TFLM -> policy, C == Python."""
    pytest.importorskip("tflite_micro")
    from edgecascade.models.dataset import get_source, load_split
    from edgecascade.models.micro import MicroRunner
    from edgecascade.models.quant import pixels_to_input

    runner = MicroRunner(MCU_MODEL)
    test = load_split("test")
    mean = get_source().split_record().train_mean.astype(np.uint8)
    th = json.loads((ROOT / "models" / "thresholds.json").read_text())["thresholds"]
    thresholds = policy.Thresholds(th["device_conf"], th["device_margin"],
                                   th["complexity_limit"])
    in_q, out_q = runner.input_quantization, runner.output_quantization
    frames = test.images[::10]  # 100 frames of the held-out split
    lines, want = [], []
    for px in frames:
        x = policy.quantize_pixels(px, in_q.scale, in_q.zero_point)
        # the device's quantization equals the models package's reference
        ref = pixels_to_input(px[None], np.dtype(np.int8), in_q).reshape(x.shape)
        assert np.array_equal(x, ref)
        out = runner.predict_int8(x)
        d = policy.decide(out, out_q.scale, out_q.zero_point, 3, px, mean, thresholds)
        want.append(f"ok {len(d.classes)} {' '.join(map(str, d.classes))} "
                    f"{' '.join(map(str, d.confidences))} {bits(d.complexity)} {d.reason_name}")
        lines.append(
            f"policy {bits(thresholds.device_confidence)} {bits(thresholds.device_margin)} "
            f"{bits(thresholds.complexity_limit)} {bits(out_q.scale)} {out_q.zero_point} 3 "
            f"{out.size} {' '.join(str(int(v)) for v in out)} {px.tobytes().hex()} "
            f"{mean.tobytes().hex()}"
        )
    assert run_parity(lines) == want
    assert len({w.rsplit(' ', 1)[1] for w in want}) >= 2  # some kept, some attached
