"""Golden vectors of the preprocessing (``core/ec_preprocess.c`` and its Python twin
``edgecascade.models.preprocess``), shared by pytest and the C tests.

    python firmware/tests/gen_preprocess_vectors.py write    # (re)make the vectors
    python firmware/tests/gen_preprocess_vectors.py header OUT.h   # C header (build)

Each vector in ``firmware/tests/vectors/`` is ``NAME.json`` (parameters), ``NAME.in.bin``
(the sensor's bytes) and ``NAME.out.bin`` (the int8 model input), plus
``NAME.pixels.bin`` (uint8 gray at the model's size) for camera frames. ``write`` needs
scikit-image (its sample photographs) and Pillow; the vectors are committed, so the
build and the tests need neither.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

VECTORS = Path(__file__).resolve().parent / "vectors"


def _mnist_contract() -> Any:
    from edgecascade.models import preprocess
    from edgecascade.models.registry import load_registry

    return preprocess.image_contract(load_registry(verify=False).for_tier("mcu"))


def _har_contract() -> Any:
    from edgecascade.models import preprocess
    from edgecascade.models.workload import get_workload

    return preprocess.imu_contract(get_workload("har").entry("mcu"))


def compute(doc: dict[str, Any], data: bytes) -> dict[str, bytes]:
    """What the twin makes of a vector's input: ``{"out": int8 bytes[, "pixels": ...]}``."""
    from edgecascade.models import preprocess as pre

    if doc["kind"] == "image":
        gray = pre.to_gray(data, doc["format"], doc["width"], doc["height"])
        pixels = pre.resize_box(gray, tuple(doc["crop"]), doc["out_width"], doc["out_height"],
                                bool(doc["invert"]))
        out = pre.quantize(pixels, doc["mult"], doc["zero_point"])
        return {"pixels": pixels.tobytes(), "out": out.tobytes()}
    samples = np.frombuffer(data, dtype="<i2").reshape(doc["steps"], doc["channels"])
    out = pre.quantize(samples.T, np.asarray(doc["mults"])[:, None], doc["zero_point"])
    return {"out": out.tobytes()}


def load() -> list[tuple[str, dict[str, Any], bytes, dict[str, bytes]]]:
    """Every vector: (name, parameters, input bytes, expected outputs)."""
    cases = []
    for js in sorted(VECTORS.glob("*.json")):
        name = js.stem
        doc = json.loads(js.read_text())
        outs = {k: (VECTORS / f"{name}.{k}.bin").read_bytes()
                for k in ("out", "pixels") if (VECTORS / f"{name}.{k}.bin").exists()}
        cases.append((name, doc, (VECTORS / f"{name}.in.bin").read_bytes(), outs))
    return cases


def _photo(name: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image
    from skimage import data as skdata

    rgb = getattr(skdata, name)()
    img = Image.fromarray(rgb).convert("RGB")
    return np.asarray(img.resize(size, Image.Resampling.BOX), dtype=np.uint8)


def _write(name: str, doc: dict[str, Any], data: bytes) -> None:
    VECTORS.mkdir(exist_ok=True)
    (VECTORS / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (VECTORS / f"{name}.in.bin").write_bytes(data)
    for k, v in compute(doc, data).items():
        (VECTORS / f"{name}.{k}.bin").write_bytes(v)


def write_all() -> None:
    from edgecascade.models import preprocess as pre
    from edgecascade.models.workload import get_workload

    mn = _mnist_contract()
    img = {"kind": "image", "out_width": mn.width, "out_height": mn.height,
           "invert": int(mn.invert), "mult": mn.mult, "zero_point": mn.zero_point}
    # An OV2640 QQVGA RGB565 frame: scikit-image's "chelsea" photograph (a cat).
    cat = _photo("chelsea", (160, 120))
    _write("camera_rgb565_qqvga", {**img, "source": "skimage.data.chelsea() at 160x120",
                                   "format": "rgb565be", "width": 160, "height": 120,
                                   "crop": list(pre.center_crop(160, 120, 28, 28))},
           pre.rgb_to_rgb565be(cat))
    # Odd sizes, an off-centre crop, RGB888, no inversion: "coffee" at 97x61.
    cup = _photo("coffee", (97, 61))
    _write("camera_rgb888_odd", {**img, "invert": 0, "source": "skimage.data.coffee() "
                                 "at 97x61", "format": "rgb888", "width": 97, "height": 61,
                                 "crop": [5, 3, 83, 57]}, cup.tobytes())
    # Upscaling (boxes widened to one pixel): "astronaut" in gray at 20x15.
    cam = np.asarray(_photo("astronaut", (20, 15)).mean(axis=2), dtype=np.uint8)
    _write("camera_gray8_upscale", {**img, "source": "skimage.data.astronaut() gray at 20x15",
                                    "format": "gray8", "width": 20, "height": 15,
                                    "crop": [0, 0, 20, 15]}, cam.tobytes())
    # A recorded IMU window: HAPT person 1 walking (har_test.npz), as MPU-6050 counts.
    har = _har_contract()
    wl = get_workload("har")
    ds = wl.load_split("test")
    i = int(np.flatnonzero(ds.labels == 0)[0])
    real = (ds.images[i].astype(np.float64) - ds.zero_point) * ds.scale  # (6, 128)
    counts = pre.real_to_counts(real.T, pre.HAR_TRAINING.units, har.sensor)
    imu = {"kind": "imu", "steps": har.steps, "channels": len(har.mults),
           "mults": list(har.mults), "zero_point": har.zero_point, "rate_hz": har.rate_hz}
    _write("imu_har_walking", {**imu, "source": f"models/har/data/har_test.npz window {i} "
                               "(walking), MPU-6050 counts at +-4 g, +-250 deg/s"},
           counts.astype("<i2").tobytes())
    # Rounding and saturation at the edges: full-scale counts, negative halves.
    edge = np.zeros((har.steps, len(har.mults)), dtype=np.int16)
    vals = [-32768, 32767, -1, 1, -128, 128, -257, 257, -8192, 8192, -4096, 4096, -131, 131]
    for t in range(har.steps):
        for c in range(edge.shape[1]):
            v = vals[(t + 3 * c) % len(vals)] + (t // len(vals)) * (1 if c % 2 else -1)
            edge[t, c] = min(max(v, -32768), 32767)
    _write("imu_edges", {**imu, "source": "synthetic: saturation and rounding edges"},
           edge.astype("<i2").tobytes())


def c_bytes(data: bytes, dtype: str = "u1") -> str:
    vals = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).tolist()
    rows = [", ".join(str(v) for v in vals[i:i + 24]) for i in range(0, len(vals), 24)]
    return "{\n  " + ",\n  ".join(rows) + "}"


def header() -> str:
    fmt = {"gray8": "EC_PIX_GRAY8", "rgb565be": "EC_PIX_RGB565_BE", "rgb888": "EC_PIX_RGB888"}
    lines = ["/* Generated by firmware/tests/gen_preprocess_vectors.py from",
             " * firmware/tests/vectors/ (the preprocessing golden vectors). */",
             "#include <stdint.h>", "#include \"ec_preprocess.h\"", ""]
    images, imus = [], []
    for name, doc, data, outs in load():
        in_type, in_dtype = ("uint8_t", "u1") if doc["kind"] == "image" else ("int16_t", "i2")
        lines.append(f"static const {in_type} {name}_in[] = {c_bytes(data, in_dtype)};")
        lines.append(f"static const int8_t {name}_out[] = {c_bytes(outs['out'], 'i1')};")
        if doc["kind"] == "image":
            lines.append(f"static const uint8_t {name}_pixels[] = {c_bytes(outs['pixels'])};")
            x, y, w, h = doc["crop"]
            images.append(f"  {{\"{name}\", {name}_in, sizeof {name}_in, {fmt[doc['format']]}, "
                          f"{doc['width']}, {doc['height']}, {{{x}, {y}, {w}, {h}}}, "
                          f"{doc['out_width']}, {doc['out_height']}, {doc['invert']}, "
                          f"{doc['mult']}, {doc['zero_point']}, {name}_pixels, {name}_out}},")
        else:
            mults = ", ".join(map(str, doc["mults"]))
            imus.append(f"  {{\"{name}\", {name}_in, {doc['steps']}, "
                        f"{doc['channels']}, {{{mults}}}, {doc['zero_point']}, {name}_out}},")
    lines += ["", "typedef struct { const char *name; const uint8_t *in; size_t in_len; "
              "ec_pixfmt_t fmt; uint16_t w, h; ec_rect_t crop; uint16_t out_w, out_h; "
              "int invert; int32_t mult; int32_t zp; const uint8_t *pixels; "
              "const int8_t *out; } ec_pre_image_vec_t;",
              "typedef struct { const char *name; const int16_t *in; size_t steps, channels; "
              "int32_t mults[8]; int32_t zp; const int8_t *out; } ec_pre_imu_vec_t;",
              "static const ec_pre_image_vec_t ec_pre_image_vecs[] = {", *images, "};",
              "static const ec_pre_imu_vec_t ec_pre_imu_vecs[] = {", *imus, "};", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"]:
        write_all()
        return 0
    if argv[:1] == ["header"] and len(argv) == 2:
        Path(argv[1]).parent.mkdir(parents=True, exist_ok=True)
        Path(argv[1]).write_text(header())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
