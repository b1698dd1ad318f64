"""A sensor's output -> the model's int8 input: the twin of ``firmware/core/ec_preprocess.c``.

Integer arithmetic only, byte-identical to the C core (golden vectors in
``protocol/vectors/preprocess/``, checked by pytest and by the C tests on the host and
under QEMU Cortex-M4). The rules, and why:

* grayscale: BT.601 luma in 8-bit fixed point, ``(77 R + 150 G + 29 B + 128) >> 8``;
  RGB565 widens each channel by bit replication (``R8 = R5 << 3 | R5 >> 2``); RGB565
  frames are 2 bytes a pixel, high byte first (esp32-camera's frame buffer);
* crop: the largest centered crop with the model input's aspect ratio;
* resize: an area ("box") resize on integer boxes: output pixel ``(oy, ox)`` is the
  rounded mean ``(sum + n // 2) // n`` of crop rows ``[oy*ch//H, (oy+1)*ch//H)`` and
  columns ``[ox*cw//W, (ox+1)*cw//W)`` (widened to one pixel when upscaling). Area
  rather than bilinear: every source pixel counts once, so shrinking a 160x120 or a
  640x480 frame to 28x28 does not alias, and it is exact in integers;
* invert: ``255 - mean`` for models trained on light strokes on a dark ground (MNIST)
  that a camera sees as dark ink on paper (:data:`INVERTED_TASKS`);
* quantize: ``q = clamp(zp + ((x * mult + 2**(SHIFT-1)) >> SHIFT), -128, 127)``, ``x``
  the 8-bit gray or a raw IMU count, ``mult = round(2**SHIFT * unit / scale)`` with
  ``unit`` what one step of ``x`` means (1/255 of full intensity; one sensor count in
  the training data's unit) and ``scale`` the model input's.

The parameters come from the registry's input contract (:func:`image_contract`,
:func:`imu_contract`); ``tools/models/settings_header.py`` writes the same numbers into
``ec_settings.h`` for the firmware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import ModelError

if TYPE_CHECKING:
    from .registry import ModelEntry

SHIFT = 20  # EC_PRE_SHIFT
PIXEL_BYTES = {"gray8": 1, "rgb565be": 2, "rgb888": 3}
#: Tasks whose training images are light strokes on a dark ground: a camera's view of
#: dark ink on paper is inverted before quantization.
INVERTED_TASKS = frozenset({"mnist-digit-classification"})


@dataclass(frozen=True)
class ImageContract:
    """Camera frame -> image input: output size, inversion, quantization."""

    height: int
    width: int
    invert: bool
    mult: int
    zero_point: int


@dataclass(frozen=True)
class ImuSensor:
    """The motion sensor's configuration: MPU-6050 at +-4 g and +-250 deg/s."""

    name: str = "mpu6050"
    accel_full_scale_g: int = 4
    gyro_full_scale_dps: int = 250
    accel_counts_per_g: float = 8192.0   # datasheet: AFS_SEL=1
    gyro_counts_per_dps: float = 131.0   # datasheet: FS_SEL=0


@dataclass(frozen=True)
class ImuTraining:
    """How a workload's IMU windows were recorded and scaled (its dataset README)."""

    rate_hz: int
    channels: tuple[str, ...]
    units: tuple[str, ...]  # "g" or "rad/s", per channel


#: HAPT (models/har/data/README.md): acc x, y, z in g, gyro x, y, z in rad/s, 50 Hz.
HAR_TRAINING = ImuTraining(50, ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"),
                           ("g", "g", "g", "rad/s", "rad/s", "rad/s"))
IMU_TASKS = {"har-classification": HAR_TRAINING}
MPU6050 = ImuSensor()


@dataclass(frozen=True)
class ImuContract:
    """Raw sensor counts -> the model's (channels, steps) int8 window."""

    steps: int
    rate_hz: int
    mults: tuple[int, ...]
    zero_point: int
    sensor: ImuSensor


#: The C core takes a multiplier as an int32 (``EC_PRE_Q_MULT``, ``EC_PRE_IMU_MULTS``).
MAX_MULT = 2 ** 31 - 1


def multiplier(unit: float, scale: float) -> int:
    """``round(2**SHIFT * unit / scale)``: one step of a value in model input steps.
    Between 1 and :data:`MAX_MULT` (an input scale so small or so large that one step
    does not fit is a model the firmware cannot feed)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ModelError("input", f"preprocessing needs a quantized int8 input, scale {scale}")
    mult = int(round(2 ** SHIFT * unit / scale))
    if not 1 <= mult <= MAX_MULT:
        raise ModelError("input", f"input scale {scale:.6g} makes one sensor step "
                                  f"{unit / scale:.6g} input steps: outside the firmware's "
                                  f"fixed point (multiplier 1..{MAX_MULT} at shift {SHIFT})")
    return mult


#: What one step of an 8-bit gray pixel means: 1/255 of full intensity.
PIXEL_UNIT = 1.0 / 255.0


def image_contract(entry: ModelEntry) -> ImageContract:
    spec = entry.input
    if spec.layout != "image" or spec.dtype != "int8":
        raise ModelError(entry.id, f"not an int8 image input ({spec.layout}, {spec.dtype})")
    return ImageContract(spec.shape[0], spec.shape[1], entry.task in INVERTED_TASKS,
                         multiplier(PIXEL_UNIT, spec.scale), spec.zero_point)


def pixels_to_input(pixels: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """8-bit gray pixels -> the int8 model input, as every frame source of the board
    quantizes them (``ec_pre_quantize_u8`` with ``EC_PRE_Q_MULT``: replay, camera and the
    OTA self-test), same shape. Fixed point, so a pixel exactly between two input steps
    rounds up, where a float division may land either side."""
    return quantize(np.asarray(pixels, dtype=np.uint8), multiplier(PIXEL_UNIT, scale),
                    zero_point)


def imu_contract(entry: ModelEntry, sensor: ImuSensor = MPU6050) -> ImuContract:
    spec = entry.input
    training = IMU_TASKS.get(entry.task)
    if training is None or spec.layout != "series" or spec.dtype != "int8":
        raise ModelError(entry.id, f"no IMU recording contract for task {entry.task!r}")
    if spec.shape[0] != len(training.channels):
        raise ModelError(entry.id, f"input has {spec.shape[0]} channels, the recording "
                                   f"{len(training.channels)}")
    per_unit = {"g": 1.0 / sensor.accel_counts_per_g,
                "rad/s": math.pi / 180.0 / sensor.gyro_counts_per_dps}
    mults = tuple(multiplier(per_unit[u], spec.scale) for u in training.units)
    return ImuContract(spec.shape[1], training.rate_hz, mults, spec.zero_point, sensor)


def center_crop(src_w: int, src_h: int, out_w: int, out_h: int) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of the largest centered crop with the out_w:out_h aspect."""
    if min(src_w, src_h, out_w, out_h) < 1:
        raise ModelError("crop", f"zero size ({src_w}x{src_h} -> {out_w}x{out_h})")
    if src_w * out_h <= src_h * out_w:
        w, h = src_w, src_w * out_h // out_w
    else:
        w, h = src_h * out_w // out_h, src_h
    w, h = max(w, 1), max(h, 1)
    return (src_w - w) // 2, (src_h - h) // 2, w, h


def to_gray(frame: bytes | np.ndarray, fmt: str, width: int, height: int) -> np.ndarray:
    """A raw frame (rows of ``width`` pixels of ``fmt``) -> (height, width) int64 gray."""
    bpp = PIXEL_BYTES.get(fmt)
    if bpp is None:
        raise ModelError("frame", f"unknown pixel format {fmt!r}; expected one of "
                                  f"{sorted(PIXEL_BYTES)}")
    raw = np.frombuffer(bytes(frame), dtype=np.uint8) if not isinstance(frame, np.ndarray) \
        else np.ascontiguousarray(frame, dtype=np.uint8).reshape(-1)
    if raw.size < width * height * bpp:
        raise ModelError("frame", f"{raw.size} bytes, a {width}x{height} {fmt} frame needs "
                                  f"{width * height * bpp}")
    px = raw[:width * height * bpp].reshape(height, width, bpp).astype(np.int64)
    if fmt == "gray8":
        return px[..., 0]
    if fmt == "rgb565be":
        v = (px[..., 0] << 8) | px[..., 1]
        r5, g6, b5 = v >> 11, (v >> 5) & 0x3F, v & 0x1F
        r, g, b = (r5 << 3) | (r5 >> 2), (g6 << 2) | (g6 >> 4), (b5 << 3) | (b5 >> 2)
    else:
        r, g, b = px[..., 0], px[..., 1], px[..., 2]
    return (77 * r + 150 * g + 29 * b + 128) >> 8


def _boxes(n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(n, dtype=np.int64)
    lo = i * length // n
    hi = np.maximum((i + 1) * length // n, lo + 1)
    return lo, hi


def resize_box(gray: np.ndarray, crop: tuple[int, int, int, int], out_w: int,
               out_h: int, invert: bool = False) -> np.ndarray:
    """The crop of a gray image -> (out_h, out_w) uint8 box means (``ec_pre_image``)."""
    x, y, w, h = crop
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > gray.shape[1] or y + h > gray.shape[0]:
        raise ModelError("crop", f"{crop} outside the {gray.shape[1]}x{gray.shape[0]} frame")
    region = gray[y:y + h, x:x + w].astype(np.int64)
    integral = np.zeros((h + 1, w + 1), dtype=np.int64)
    integral[1:, 1:] = region.cumsum(0).cumsum(1)
    y0, y1 = _boxes(out_h, h)
    x0, x1 = _boxes(out_w, w)
    sums = (integral[np.ix_(y1, x1)] - integral[np.ix_(y0, x1)] - integral[np.ix_(y1, x0)]
            + integral[np.ix_(y0, x0)])
    count = np.outer(y1 - y0, x1 - x0)
    mean = (sums + count // 2) // count
    return (255 - mean if invert else mean).astype(np.uint8)


def quantize(x: np.ndarray, mult: int | np.ndarray, zero_point: int) -> np.ndarray:
    """Integers -> int8: ``clamp(zp + ((x * mult + 2**(SHIFT-1)) >> SHIFT))``."""
    v = (np.asarray(x, dtype=np.int64) * np.asarray(mult, dtype=np.int64)
         + (1 << (SHIFT - 1))) >> SHIFT
    return np.clip(v + zero_point, -128, 127).astype(np.int8)


def image_to_input(frame: bytes | np.ndarray, fmt: str, width: int, height: int,
                   contract: ImageContract,
                   crop: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A camera frame -> ``(pixels, tensor)``: the uint8 (H, W) gray the device reports
    its complexity on, and the int8 (H, W, 1) model input."""
    gray = to_gray(frame, fmt, width, height)
    box = crop if crop is not None else center_crop(width, height, contract.width,
                                                    contract.height)
    pixels = resize_box(gray, box, contract.width, contract.height, contract.invert)
    return pixels, quantize(pixels, contract.mult, contract.zero_point)[..., None]


def imu_to_input(samples: np.ndarray, contract: ImuContract) -> np.ndarray:
    """Raw counts (steps, channels) int16, as read from the sensor -> the int8
    (channels, steps) model window (``ec_pre_imu_window``)."""
    s = np.asarray(samples)
    if s.ndim != 2 or s.shape != (contract.steps, len(contract.mults)):
        raise ModelError("imu window", f"expected ({contract.steps}, {len(contract.mults)}) "
                                       f"samples, got {s.shape}")
    if s.dtype != np.int16:
        raise ModelError("imu window", f"samples must be int16 sensor counts, got {s.dtype}")
    return quantize(s.T, np.asarray(contract.mults)[:, None], contract.zero_point)


def rgb_to_rgb565be(rgb: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB -> the RGB565 frame a camera gives (2 bytes a pixel,
    high byte first): for synthesizing camera frames from photographs."""
    a = np.asarray(rgb, dtype=np.uint16)
    v = ((a[..., 0] >> 3) << 11) | ((a[..., 1] >> 2) << 5) | (a[..., 2] >> 3)
    return v.astype(">u2").tobytes()


def real_to_counts(real: np.ndarray, units: tuple[str, ...],
                   sensor: ImuSensor = MPU6050) -> np.ndarray:
    """(steps, channels) values in the training units -> the int16 counts the sensor
    would read (rounded, saturated): turns a recording into a raw sensor log."""
    per = np.array([sensor.accel_counts_per_g if u == "g"
                    else sensor.gyro_counts_per_dps * 180.0 / math.pi for u in units])
    return np.clip(np.round(np.asarray(real, dtype=np.float64) * per), -32768,
                   32767).astype(np.int16)
