"""The ESP32 frame providers run on the host against fakes of their sensors
(firmware/tests/esp32_host/providers_host.c: esp32-camera serving a recorded frame; an
MPU-6050 register file and FIFO behind i2c_master, sampling a recording as virtual time
passes). What only a board can show (the real sensors, PSRAM, timing) stays unchecked;
what these show: the camera source hands the model the golden vector's bytes and returns
every frame buffer; the IMU source sets the sensor to the training data's rate and full
scales, reads contiguous windows in the sensor's byte order and channel order, and
restarts a window when the FIFO overflowed."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from edgecascade.models import preprocess as pre
from edgecascade.models.registry import load_registry
from edgecascade.models.workload import get_workload

from .cbuild import BUILD, FIRMWARE, make

VECTORS = FIRMWARE / "tests" / "vectors"
AI_THINKER_PINS = "32 -1 0 26 27 35 34 39 36 21 19 18 5 25 23 22"


@pytest.fixture(scope="module")
def built() -> None:
    proc = make("providers-host")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def run(*args: object) -> list[str]:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [x for x in proc.stdout.splitlines()
            if x.startswith(("config", "frame", "returns", "window"))]


def words(line: str) -> dict[str, str]:
    w = line.split()[1:]
    return dict(zip(w[::2], w[1::2], strict=False))


@pytest.mark.usefixtures("built")
def test_camera_source_gives_the_golden_bytes_and_returns_every_buffer(tmp_path) -> None:
    out = run(BUILD / "camera_host", VECTORS / "camera_rgb565_qqvga.in.bin", 160, 120, 1,
              8 << 20, 3)
    config, *frames, returns = out
    c = words(config)
    # default: grayscale (3), QQVGA (1); PSRAM: two buffers there, the latest frame
    assert (c["format"], c["size"], c["fb_count"], c["fb_location"], c["grab"]) == (
        "3", "1", "2", "0", "1")
    assert config.split("pins ")[1] == AI_THINKER_PINS
    pixels = (VECTORS / "camera_rgb565_qqvga.pixels.bin").read_bytes().hex()
    tensor = (VECTORS / "camera_rgb565_qqvga.out.bin").read_bytes().hex()
    assert frames == [f"frame {pixels} {tensor} label -1"] * 3
    assert returns == "returns 3 3"


@pytest.mark.usefixtures("built")
def test_camera_source_without_psram_and_on_any_gray_frame(tmp_path) -> None:
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (96, 96), dtype=np.uint8)
    (tmp_path / "gray.bin").write_bytes(frame.tobytes())
    config, one, returns = run(BUILD / "camera_host", tmp_path / "gray.bin", 96, 96, 0, 0, 1)
    c = words(config)
    assert (c["fb_count"], c["fb_location"], c["grab"]) == ("1", "1", "0")  # internal RAM
    contract = pre.image_contract(load_registry(verify=False).for_tier("mcu"))
    pixels, tensor = pre.image_to_input(frame.tobytes(), "gray8", 96, 96, contract)
    assert one == f"frame {pixels.tobytes().hex()} {tensor.tobytes().hex()} label -1"
    # a frame shorter than its size is refused, and its buffer still goes back
    (tmp_path / "short.bin").write_bytes(frame.tobytes()[:1000])
    _, bad, returns = run(BUILD / "camera_host", tmp_path / "short.bin", 96, 96, 0, 0, 1)
    assert bad.startswith("frame err") and returns == "returns 1 1"


def _recording(tmp_path, windows: int) -> np.ndarray:
    ds = get_workload("har").load_split("test")
    idx = np.flatnonzero(ds.groups == ds.groups[0])[:windows]
    real = (ds.images[idx].astype(np.float64) - ds.zero_point) * ds.scale
    counts = pre.real_to_counts(real.transpose(0, 2, 1).reshape(-1, 6),
                                pre.HAR_TRAINING.units)
    (tmp_path / "rec.bin").write_bytes(counts.astype("<i2").tobytes())
    return counts


def _windows(lines: list[str], counts: np.ndarray) -> list[int]:
    contract = pre.imu_contract(get_workload("har").entry("mcu"))
    ends = []
    for line in lines:
        _, q, _, end, _, label = line.split()
        rows = np.arange(int(end) - contract.steps, int(end)) % len(counts)
        assert q == pre.imu_to_input(counts[rows], contract).tobytes().hex(), end
        assert label == "-1"
        ends.append(int(end))
    return ends


@pytest.mark.usefixtures("built")
def test_imu_source_reads_contiguous_windows_at_the_training_rate(tmp_path) -> None:
    counts = _recording(tmp_path, 6)
    config, *lines = run(BUILD / "imu_host", tmp_path / "rec.bin", 40, 4)
    c = words(config)
    # 1 kHz / (1 + 19) = 50 Hz with the 44 Hz low-pass; +-250 deg/s; +-4 g; accel+gyro FIFO
    assert (c["smplrt_div"], c["dlpf"], c["gyro_config"], c["accel_config"], c["fifo_en"],
            c["pwr"]) == ("19", "3", "0x00", "0x08", "0x78", "0x01")
    assert (c["sda"], c["scl"]) == ("8", "9")
    ends = _windows(lines, counts)
    assert len(ends) == 4 and all(b - a == 128 for a, b in zip(ends, ends[1:], strict=False))
    first = VECTORS / "imu_har_walking.in.bin"  # the golden window, through the provider
    _, golden = run(BUILD / "imu_host", first, 40, 1)
    assert golden.split()[1] == (VECTORS / "imu_har_walking.out.bin").read_bytes().hex()


@pytest.mark.usefixtures("built")
@pytest.mark.parametrize("flag", ["", "silent"])
def test_imu_source_restarts_a_window_after_a_fifo_overflow(tmp_path, flag) -> None:
    """The FIFO drops its oldest bytes (1024 is no multiple of a 12-byte sample), so
    what is left is cut mid-sample: each window after an overflow must start again on an
    empty FIFO. The fake raises FIFO_OFLOW_INT only with its interrupt enabled (the
    register map's word), or never ("silent": the fill level alone must tell)."""
    counts = _recording(tmp_path, 8)
    config, *lines = run(BUILD / "imu_host", tmp_path / "rec.bin", 3000, 3,
                         *([flag] if flag else []))  # 3 s > 1.7 s FIFO
    assert words(config)["int_enable"] == "0x10"
    ends = _windows(lines, counts)  # each window the recording's rows, aligned
    assert len(ends) == 3
    assert all(b - a > 128 for a, b in zip(ends, ends[1:], strict=False))  # samples lost
