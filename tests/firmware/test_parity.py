"""The C core and its Python twins agree on random inputs, bit for bit.

Each test generates seeded random cases, runs them all through one ``ec_parity``
process (firmware/tests/ec_parity.c) and through the Python twin, and compares.
On a mismatch the failing case is shown decoded, not as a wall of bytes.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import msgpack
import numpy as np
import pytest

from edgecascade.emulator import policy, ring
from edgecascade.protocol import DeviceConfig, Frame, ProtocolError, Report, decode, encode, framing

from .cbuild import run_parity

pytestmark = pytest.mark.usefixtures("parity_tool")


def pick(rng: np.random.Generator, options: list[Any]) -> Any:
    return options[int(rng.integers(0, len(options)))]


def bits(x: float) -> str:
    return f"{struct.unpack('<I', struct.pack('<f', x))[0]:08x}"


def f32(x: float) -> float:
    return float(np.float32(x))


def compare(cases: list[Any], got: list[str], want: list[str]) -> None:
    bad = [(c, g, w) for c, g, w in zip(cases, got, want, strict=True) if g != w]
    if bad:
        case, g, w = bad[0]
        raise AssertionError(f"{len(bad)} of {len(cases)} differ; first:\n"
                             f"case: {case!r:.600}\nC:      {g:.300}\nPython: {w:.300}")


# -- attach decision -------------------------------------------------------------------------
def _policy_case(rng: np.random.Generator) -> dict[str, Any]:
    n = int(rng.integers(1, 12))
    q = rng.integers(-128, 128, n)
    if rng.random() < 0.3:  # ties
        q[rng.integers(0, n)] = q.max()
    scale = f32(rng.choice([1 / 256, 1 / 255, float(rng.uniform(1e-4, 0.02))]))
    zp = int(rng.choice([-128, int(rng.integers(-128, 128))]))
    npx = int(rng.choice([784, int(rng.integers(1, 64))]))
    mean = rng.integers(0, 256, npx).astype(np.uint8)
    px = mean.copy() if rng.random() < 0.2 else rng.integers(0, 256, npx).astype(np.uint8)
    wire = [policy.confidence_from_q(int(v), scale, zp) for v in q]
    # thresholds on the exact boundary of an observed confidence, or random
    conf = f32(wire[int(rng.integers(0, n))] / 65535) if rng.random() < 0.3 else f32(rng.random())
    margin = f32(rng.random() * 0.5)
    limit = f32(policy.complexity(px, mean)) if rng.random() < 0.2 else f32(rng.random() * 0.6)
    return {"q": q.tolist(), "scale": scale, "zp": zp, "k": int(rng.integers(1, 11)),
            "px": px, "mean": mean, "th": (conf, margin, limit)}


def test_policy_parity() -> None:
    rng = np.random.default_rng(20261121)
    cases = [_policy_case(rng) for _ in range(1500)]
    lines, want = [], []
    for c in cases:
        conf, margin, limit = c["th"]
        lines.append(
            f"policy {bits(conf)} {bits(margin)} {bits(limit)} {bits(c['scale'])} {c['zp']} "
            f"{c['k']} {len(c['q'])} {' '.join(map(str, c['q']))} "
            f"{c['px'].tobytes().hex()} {c['mean'].tobytes().hex()}"
        )
        d = policy.decide(np.array(c["q"], dtype=np.int8), c["scale"], c["zp"], c["k"],
                          c["px"], c["mean"], policy.Thresholds(conf, margin, limit))
        want.append(f"ok {len(d.classes)} {' '.join(map(str, d.classes))} "
                    f"{' '.join(map(str, d.confidences))} {bits(d.complexity)} {d.reason_name}")
    compare(cases, run_parity(lines), want)
    reasons = {w.rsplit(" ", 1)[1] for w in want}
    assert reasons == {"confident", "low_confidence", "small_margin", "complex_input"}


def test_policy_rejects_bad_thresholds_like_the_twin() -> None:
    lines = [f"policy {bits(1.5)} 00000000 00000000 3b800000 -128 1 2 1 2 00 00",
             f"policy 00000000 00000000 {bits(-1.0)} 3b800000 -128 1 2 1 2 00 00",
             "policy 00000000 00000000 00000000 00000000 -128 1 2 1 2 00 00"]
    assert run_parity(lines) == ["err range", "err range", "err arg"]
    with pytest.raises(ValueError):
        policy.Thresholds(1.5, 0.0, 0.0)
    with pytest.raises(ValueError):
        policy.Thresholds(0.5, 0.0, -1.0)


def test_quantize_parity() -> None:
    rng = np.random.default_rng(7)
    cases = []
    for _ in range(200):
        px = rng.integers(0, 256, int(rng.integers(1, 800))).astype(np.uint8)
        scale = f32(rng.choice([1 / 255, float(rng.uniform(0.002, 0.05))]))
        cases.append((px, scale, int(rng.integers(-128, 128))))
    lines = [f"quantize {bits(s)} {zp} {px.tobytes().hex()}" for px, s, zp in cases]
    want = [policy.quantize_pixels(px, s, zp).tobytes().hex() for px, s, zp in cases]
    compare(cases, run_parity(lines), want)
    px = np.arange(256, dtype=np.uint8)  # the mcu model's input: q == pixel - 128
    q = policy.quantize_pixels(px, f32(1 / 255), -128).astype(int)
    assert (q == px.astype(int) - 128).all()


# -- ring buffer -----------------------------------------------------------------------------
def _ring_python(pool: int, slots: int, ops: list[tuple[str, int, bool]]) -> str:
    r = ring.ReportRing(slots, pool)
    tokens, next_id = [], 0
    for kind, size, frame in ops:
        if kind == "p":
            next_id += 1
            payload = next_id.to_bytes(2, "big") + bytes(max(size, 2) - 2)
            before = r.stats.oversize
            r.push(payload, frame)
            snap = r.snapshot()
            if r.stats.oversize > before:
                tokens.append("too_big")
            elif snap and snap[-1][0] is not None and snap[-1][0][:2] == payload[:2]:
                tokens.append("ok")
            else:
                tokens.append("dropped")
        else:
            got = r.pop()
            tokens.append(str(int.from_bytes(got[:2], "big")) if got is not None else "E")
    left = " ".join(str(int.from_bytes(p[:2], "big")) for p, _ in r.snapshot())
    s = r.stats
    return f"{' '.join(tokens)} | {left}{' ' if left else ''}| " \
           f"{s.dropped_plain} {s.dropped_frame} {s.oversize}".replace("|  |", "| |")


def test_ring_parity() -> None:
    rng = np.random.default_rng(4)
    cases, lines = [], []
    for _ in range(400):
        pool, slots = int(rng.integers(20, 3000)), int(rng.integers(1, 20))
        ops = []
        for _ in range(int(rng.integers(1, 80))):
            if rng.random() < 0.2:
                ops.append(("o", 0, False))
            else:
                size = int(rng.choice([int(rng.integers(2, 40)), int(rng.integers(100, 900))]))
                ops.append(("p", size, bool(rng.random() < 0.4)))
        cases.append((pool, slots, ops))
        text = ",".join("o" if k == "o" else f"p{n}{'f' if f else 'n'}" for k, n, f in ops)
        lines.append(f"ring {pool} {slots} {text}")
    got = [" ".join(g.split()) for g in run_parity(lines)]
    want = [" ".join(_ring_python(*c).split()) for c in cases]
    compare(cases, got, want)


def test_ring_keeps_frames_longest() -> None:
    r = ring.ReportRing(max_slots=3, pool_bytes=1000)
    for i in range(3):
        r.push(bytes([i, 1]), has_frame=True)
    assert r.push(b"\x09\x00", has_frame=False) == 1  # the new frame-less report goes
    assert [p[0] for p, _ in r.snapshot()] == [0, 1, 2]
    assert r.push(b"\x03\x01", has_frame=True) == 1  # now the oldest frame goes
    assert [p[0] for p, _ in r.snapshot()] == [1, 2, 3]
    assert (r.stats.dropped_plain, r.stats.dropped_frame, r.dropped) == (1, 1, 2)
    assert r.push(bytes(1001), has_frame=True) == 1 and r.stats.oversize == 1
    assert [r.pop(), r.pop(), r.pop(), r.pop()] == [b"\x01\x01", b"\x02\x01", b"\x03\x01", None]


# -- serial framing --------------------------------------------------------------------------
def _payload(rng: np.random.Generator) -> bytes:
    n = int(rng.choice([0, 1, 252, 253, 254, 255, 508, int(rng.integers(0, 700))]))
    kind = rng.integers(0, 3)
    if kind == 0:
        return bytes(rng.integers(0, 256, n).astype(np.uint8))
    if kind == 1:
        return bytes(rng.choice([0, 0xFF, 1], n).astype(np.uint8))
    return bytes(rng.integers(1, 256, n).astype(np.uint8))


def test_framing_encode_parity() -> None:
    rng = np.random.default_rng(11)
    cases = [_payload(rng) for _ in range(600)]
    want = [framing.encode_frame(p).hex() for p in cases]
    compare(cases, run_parity([f"encode {p.hex() or '-'}" for p in cases]), want)
    # COBS reference examples (Wikipedia), without our CRC
    assert framing.cobs_encode(b"\x00") == b"\x01\x01"
    assert framing.cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert framing.cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255))
    assert framing.cobs_encode(bytes(range(1, 256))) == b"\xff" + bytes(range(1, 255)) + b"\x02\xff"
    assert framing.crc16(b"123456789") == 0x29B1


def _noisy_stream(rng: np.random.Generator) -> bytes:
    out = bytearray()
    for _ in range(int(rng.integers(1, 12))):
        frame = bytearray(framing.encode_frame(_payload(rng)))
        roll = rng.random()
        if roll < 0.15:  # a flipped byte (CRC or COBS error, or a split frame)
            i = int(rng.integers(0, len(frame)))
            frame[i] ^= int(rng.integers(1, 256))
        elif roll < 0.25:  # cut short and followed by the next frame
            frame = frame[: int(rng.integers(0, len(frame)))]
        elif roll < 0.35:  # garbage before it
            out += bytes(rng.integers(0, 256, int(rng.integers(1, 40))).astype(np.uint8))
        elif roll < 0.4:
            out += b"\x00\x00"  # idle fill
        out += frame
    return bytes(out)


def test_deframer_parity_on_noisy_streams() -> None:
    rng = np.random.default_rng(12)
    cases = [(int(rng.choice([16, 300, 2048])), _noisy_stream(rng)) for _ in range(300)]
    want = []
    for cap, stream in cases:
        d = framing.Deframer(cap)
        frames = d.feed(stream)
        s = d.stats
        text = ",".join(f.hex() or "-" for f in frames) if frames else "-"
        want.append(f"{text} {s.frames_ok} {s.bad_cobs} {s.bad_crc} {s.too_long} {s.too_short}")
    got = run_parity([f"deframe {cap} {stream.hex() or '-'}" for cap, stream in cases])
    compare(cases, got, want)
    total_bad = sum(sum(map(int, w.split()[2:])) for w in want)
    total_ok = sum(int(w.split()[1]) for w in want)
    assert total_bad > 50 and total_ok > 500  # the streams exercised both paths


def test_deframer_resyncs_after_garbage_fed_byte_by_byte() -> None:
    d = framing.Deframer(64)
    good = framing.encode_frame(b"hello")
    stream = b"\x13\x37garbage\x00" + good[:3] + b"\x00" + good + bytes(100) + good
    got = [f for b in stream for f in d.feed(bytes([b]))]
    assert got == [b"hello", b"hello"]
    assert d.stats.frames_ok == 2 and d.bad_frames == 2


# -- config decoding -------------------------------------------------------------------------
def _number(rng: np.random.Generator, lo: float, hi: float) -> Any:
    roll = rng.random()
    if roll < 0.75:
        return float(rng.uniform(lo, hi))
    if roll < 0.8:
        return int(rng.integers(0, 3))
    if roll < 0.87:
        return pick(rng, [-0.0, 1.0000001, -1e-9, 1e39, math.inf, math.nan, 3.4028235e38,
                          3.40282357e38, 3.4028235677973366e38, hi])
    if roll < 0.9:
        return pick(rng, ["0.5", None, True, False, [0.5], b"\x01"])
    if roll < 0.93:
        return pick(rng, [-1, 2**32, 2**40, 2**64 - 1])
    return float(rng.uniform(-1, 2))


def _unknown(rng: np.random.Generator) -> Any:
    return pick(rng, [None, "x", "caf\u00e9", b"\x00\xff", [1, [2, {"a": 3}]], {"k": [1.5]},
                      -7, 2**63, 1.25, True, msgpack.ExtType(5, b"ab"), msgpack.Timestamp(1, 5)])


def _config_case(rng: np.random.Generator) -> bytes:
    doc: dict[Any, Any] = {}
    if rng.random() > 0.02:
        doc[0] = pick(rng, [1] * 12 + [2, 0, -1, "1", 1.0, True])
    if rng.random() > 0.02:
        doc[1] = pick(rng, [0, 3, 2**32 - 1] * 4 + [2**32, -1, 1.0, None])
    if rng.random() > 0.02:
        doc[2] = _number(rng, 0, 1)
    if rng.random() > 0.02:
        doc[3] = _number(rng, 0, 1)
    if rng.random() > 0.02:
        doc[4] = _number(rng, 0, 5)
    if rng.random() < 0.4:
        doc[5] = pick(rng, [0, 12, 2**32 - 1, 2**32, -3, "e"])
    for _ in range(int(rng.integers(0, 3))):
        key = pick(rng, [6, 99, 255, 70000, -2, "name", b"k", 0.5, None])
        doc[key] = _unknown(rng)
    items = list(doc.items())
    rng.shuffle(items)  # order must not matter
    single = bool(rng.random() < 0.5)
    packer = msgpack.Packer(use_bin_type=True, use_single_float=single)
    wide = msgpack.Packer(use_bin_type=True)
    data: bytes = packer.pack_map_header(len(items))
    for k, v in items:
        try:
            data += packer.pack(k) + packer.pack(v)
        except OverflowError:  # too large for float32: sent as float64
            data += wide.pack(k) + wide.pack(v)
    return data


def _python_config(data: bytes) -> str:
    try:
        c = decode(DeviceConfig, data)
    except ProtocolError:
        return "err"
    return (f"ok {c.revision} {bits(c.conf_threshold)} {bits(c.margin_threshold)} "
            f"{bits(c.complexity_limit)} {int(c.epoch is not None)} {c.epoch or 0}")


def _check_configs(cases: list[bytes]) -> None:
    got = run_parity([f"config {d.hex() or '-'}" for d in cases])
    got = ["err" if g.startswith("err") else g for g in got]
    compare([msgpack.unpackb(d, strict_map_key=False) if _python_config(d) != "err" else d
             for d in cases], got, [_python_config(d) for d in cases])


def test_config_parity_on_random_documents() -> None:
    rng = np.random.default_rng(5)
    cases = [_config_case(rng) for _ in range(1500)]
    outcomes = [_python_config(d) for d in cases]
    assert 200 < sum(o.startswith("ok") for o in outcomes) < 1400  # both paths exercised
    _check_configs(cases)


def test_config_parity_on_truncations_and_flips() -> None:
    rng = np.random.default_rng(6)
    base = [encode(DeviceConfig(3, 0.9, 0.25, 0.35, epoch=12)),
            encode(DeviceConfig(0, 0.0, 1.0, 0.0))]
    cases = [b[:i] for b in base for i in range(len(b))]
    for _ in range(1500):
        b = bytearray(base[int(rng.integers(0, 2))])
        for _ in range(int(rng.integers(1, 3))):
            b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        cases.append(bytes(b))
    _check_configs(cases)


def test_config_float_conversion_edges() -> None:
    """float64/int -> float32 rounding done with integer arithmetic in C: ties, subnormals,
    overflow boundaries and random bit patterns give Python's bits and verdicts."""
    rng = np.random.default_rng(9)
    edges: list[Any] = [float.fromhex(h) for h in (
        "0x1.ffffffp127", "0x1.fffffefffffffp127", "0x1.fffffep127", "0x1p-150",
        "0x1.0000000000001p-150", "0x1p-149", "0x1.8p-149", "0x1.7ffffep-127", "0x1p-126",
        "0x1.fffffffffffffp-127", "0x1.000001p0", "0x1.0000010000001p0", "0x1.000003p-1")]
    edges += [1e-40, 1.4e-45, 7e-46, 5e-324, -1e-300, -0.0, 0.1, 1 / 3, 2**64 - 1, 2**53 + 1,
              2**24 + 1, 2**25 + 3, 16777217.0, -5, 2**63]
    edges += [struct.unpack("<d", rng.bytes(8))[0] for _ in range(300)]
    edges += [float(rng.uniform(0, 1)) * 2.0 ** -int(rng.integers(0, 160)) for _ in range(700)]
    cases = []
    for value in edges:
        for key in (2, 4):  # conf_threshold (0..1) and complexity_limit (>= 0)
            doc = {0: 1, 1: 1, 2: 0.5, 3: 0.25, 4: 0.3}
            doc[key] = value
            cases.append(msgpack.packb(doc))  # floats as float64, ints as ints
    outcomes = [_python_config(d) for d in cases]
    assert sum(o.startswith("ok") for o in outcomes) > 500
    _check_configs(cases)


def test_config_out_of_range_threshold_is_rejected_with_its_key() -> None:
    bad = msgpack.packb({0: 1, 1: 3, 2: 0.9, 3: 1.5, 4: 0.3}, use_single_float=True)
    assert run_parity([f"config {bad.hex()}"]) == ["err range 3"]


# -- report encoding -------------------------------------------------------------------------
def _report(rng: np.random.Generator) -> Report:
    k = int(rng.integers(1, 11))
    ident = "".join(rng.choice(list("abcXYZ019_-"), int(rng.integers(1, 65))))
    frame = None
    if rng.random() < 0.4:
        shape = tuple(int(x) for x in rng.integers(1, 12, int(rng.integers(1, 5))))
        size = int(np.prod(shape))
        frame = Frame(bytes(rng.integers(0, 256, size).astype(np.uint8)), shape,
                      str(rng.choice(["uint8", "int8"])), f32(rng.uniform(0, 2)),
                      int(rng.integers(-128, 256)))
    big = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1]
    return Report(
        device_id=ident,
        epoch=pick(rng, big),
        seq=int(rng.integers(0, 2**32)),
        ts_ms=pick(rng, [0, 2**32, 2**64 - 1, int(rng.integers(0, 2**62))]),
        model_id=ident[::-1],
        model_version=pick(rng, big),
        classes=tuple(int(c) for c in rng.integers(0, 65536, k)),
        confidences=tuple(sorted((int(c) for c in rng.integers(0, 65536, k)), reverse=True)),
        frame=frame,
        complexity=f32(rng.uniform(0, 3)) if rng.random() < 0.5 else None,
        deadline_ms=pick(rng, big) if rng.random() < 0.3 else None,
        priority=int(rng.integers(0, 256)) if rng.random() < 0.3 else None,
        private=bool(rng.random() < 0.2),
    )


def _report_line(r: Report) -> str:
    frame = "-"
    if r.frame is not None:
        f = r.frame
        frame = (f"{f.dtype}:{bits(f.scale)}:{f.zero_point}:{','.join(map(str, f.shape))}:"
                 f"{f.data.hex() or '-'}")
    opt = [bits(r.complexity) if r.complexity is not None else "-",
           str(r.deadline_ms) if r.deadline_ms is not None else "-",
           str(r.priority) if r.priority is not None else "-"]
    return (f"report {r.device_id} {r.epoch} {r.seq} {r.ts_ms} {r.model_id} {r.model_version} "
            f"{','.join(map(str, r.classes))} {','.join(map(str, r.confidences))} "
            f"{' '.join(opt)} {int(r.private)} {frame}")


def test_report_encoding_parity() -> None:
    rng = np.random.default_rng(8)
    cases = [_report(rng) for _ in range(500)]
    compare(cases, run_parity([_report_line(r) for r in cases]), [encode(r).hex() for r in cases])


def test_report_encoder_rejects_what_the_protocol_rejects() -> None:
    lines = ["report bad/id 0 0 0 m 0 1 0 - - - 0 -",  # id with a slash
             "report d 0 0 0 m 0 1,2 5,9 - - - 0 -",  # confidences not sorted
             "report d 0 0 0 m 0 1,2 5 - - - 0 -",  # one confidence per class
             "report d 0 0 0 m 0 1 5 - - - 0 uint8:3f800000:0:2,2:00"]  # shape vs data
    assert run_parity(lines) == ["err arg"] * 4


# -- robustness ------------------------------------------------------------------------------
def test_random_bytes_never_crash_the_decoders() -> None:
    """Config decoder, msgpack skipper, deframer and line protocol on random input,
    under ASan/UBSan (any overread or UB aborts the tool and fails here)."""
    (answer,) = run_parity(["fuzz 20261121 50000"])
    assert answer.split()[:2] == ["ok", "50000"], answer


@pytest.mark.soak
def test_random_bytes_soak() -> None:
    (answer,) = run_parity(["fuzz 7 5000000"], timeout=1800)
    assert answer.split()[:2] == ["ok", "5000000"], answer
