"""The ESP32 app's frame sources (replay, camera, IMU) and consoles, as far as they can
be checked without ESP-IDF: every Kconfig variant compiles against the stubs
(``make app-check``), the CMake and component files pick what the variant needs, and
each camera board has every pin."""

from __future__ import annotations

import importlib.util
import re

import yaml

from .cbuild import FIRMWARE, make

MAIN = FIRMWARE / "esp32" / "main"
BOARDS = ("AI_THINKER", "ESP32_S3_EYE", "XIAO_ESP32S3_SENSE")
_SPEC = importlib.util.spec_from_file_location(
    "kconfig_defaults", FIRMWARE / "tests" / "kconfig_defaults.py")
assert _SPEC is not None and _SPEC.loader is not None
_KCONFIG = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_KCONFIG)
defaults = _KCONFIG.defaults
PINS = ("PWDN", "RESET", "XCLK", "SIOD", "SIOC", "D7", "D6", "D5", "D4", "D3", "D2", "D1",
        "D0", "VSYNC", "HREF", "PCLK")


def test_app_check_covers_every_source_console_and_transport() -> None:
    proc = make("app-check")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    ok = set(re.findall(r"^app-check (\S+): OK$", proc.stdout, re.MULTILINE))
    for transport in ("mqtt", "serial"):
        for what in ("replay", "camera", "imu", "usbjtag"):
            assert any(v.startswith(transport) and what in v for v in ok), (transport, what)
    for board in ("ai-thinker", "s3-eye", "xiao"):
        assert any(board in v for v in ok), board
    assert "model_runner.cc OK" in proc.stdout


def test_every_camera_board_sets_every_pin() -> None:
    text = (MAIN / "Kconfig.projbuild").read_text()
    seen = {}
    for board in BOARDS:
        assert f"config EC_CAMERA_BOARD_{board}\n" in text
        pins = defaults(text, "EC_CAM_PIN_", {f"EC_CAMERA_BOARD_{board}"})
        assert set(pins) == {f"EC_CAM_PIN_{p}" for p in PINS}, board
        data = [int(pins[f"EC_CAM_PIN_{p}"]) for p in PINS if p.startswith("D")]
        assert len(set(data)) == 8 and min(data) >= 0, board  # eight distinct data lines
        seen[board] = tuple(sorted(pins.items()))
    assert len(set(seen.values())) == len(BOARDS)  # each board has its own pin-out


def test_build_files_pick_the_source() -> None:
    cmake = (MAIN / "CMakeLists.txt").read_text()
    assert "CONFIG_EC_FRAME_SOURCE_IMU" in cmake and "CONFIG_EC_FRAME_SOURCE_CAMERA" in cmake
    assert "models/har/firmware" in cmake and "esp32-camera" in cmake
    for src in ("frame_provider_replay.c", "frame_provider_camera.c", "frame_provider_imu.c"):
        assert (MAIN / src).is_file() and src in cmake
    deps = yaml.safe_load((MAIN / "idf_component.yml").read_text())["dependencies"]
    cam = deps["espressif/esp32-camera"]
    assert cam["version"].startswith("^2.") and "esp32s3" in cam["rules"][0]["if"]


def test_kconfig_parses_and_the_app_check_reads_its_defaults_right() -> None:
    """kconfiglib (menuconfig's parser) reads Kconfig.projbuild without warnings, and for
    every board and source the defaults app-check compiles with are kconfiglib's."""
    import kconfiglib

    kc = kconfiglib.Kconfig(str(MAIN / "Kconfig.projbuild"), warn_to_stderr=False)
    # IDF_TARGET_* come from ESP-IDF's own Kconfig, absent here
    assert [w for w in kc.warnings if "IDF_TARGET" not in w] == []
    text = (MAIN / "Kconfig.projbuild").read_text()
    cases = [("EC_FRAME_SOURCE_CAMERA", f"EC_CAMERA_BOARD_{b}", "EC_CAM") for b in BOARDS]
    cases.append(("EC_FRAME_SOURCE_IMU", "", "EC_IMU"))
    for source, board, prefix in cases:
        kc.unset_values()
        assert kc.syms[source].set_value(2)
        if board:
            assert kc.syms[board].set_value(2)
        ours = defaults(text, prefix, {board} if board else set())
        theirs = {n: s.str_value for n, s in kc.syms.items()
                  if n.startswith(prefix) and s.type in (kconfiglib.INT, kconfiglib.HEX)}
        assert ours == theirs, (source, board)
