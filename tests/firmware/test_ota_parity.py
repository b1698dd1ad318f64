"""ec_ota's manifest and chunk decoders accept exactly what the Python codec accepts, with
the same values, on random and damaged documents (firmware/tests/ec_parity.c)."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import msgpack
import numpy as np
import pytest

from edgecascade.protocol import ProtocolError, decode, encode
from edgecascade.protocol.ota_messages import ModelChunk, ModelManifest

from .cbuild import run_parity
from .test_parity import compare

pytestmark = pytest.mark.usefixtures("parity_tool")


def bits(x: float) -> str:
    return f"{struct.unpack('<I', struct.pack('<f', x))[0]:08x}"


def pick(rng: np.random.Generator, options: list[Any]) -> Any:
    return options[int(rng.integers(0, len(options)))]


def _manifest_doc(rng: np.random.Generator) -> dict[Any, Any]:
    good = ModelManifest("mnist-mcu", 2, "mcu", hashlib.sha256(b"x").digest(), 18024, 16128,
                         4096, 0.9, 0.25, 0.35, devices=("cam-01", "cam-02"))
    doc: dict[Any, Any] = dict(msgpack.unpackb(encode(good), strict_map_key=False))
    if rng.random() < 0.5:
        del doc[11]
    for _ in range(int(rng.integers(0, 3))):  # damage some fields
        key = int(rng.integers(0, 13))
        doc[key] = pick(rng, [None, -1, 0, 1, 2**32, 2**32 - 1, 0.5, 1.5, "mcu", "edge", "x" * 65,
                              "", b"\x00" * 32, b"\x00" * 31, [], ["cam-01"], ["bad id"],
                              ["cam-99"] * 3, 131072, 131073, 65536, 65537, 1024, 16, True])
    if rng.random() < 0.1:
        doc.pop(int(rng.integers(0, 11)), None)
    return doc


def _pack(doc: dict[Any, Any], rng: np.random.Generator) -> bytes:
    items = list(doc.items())
    rng.shuffle(items)
    packer = msgpack.Packer(use_bin_type=True, use_single_float=bool(rng.random() < 0.5))
    data: bytes = packer.pack_map_header(len(items))
    for k, v in items:
        data += packer.pack(k) + packer.pack(v)
    return data


def _py_manifest(data: bytes) -> str:
    try:
        m = decode(ModelManifest, data)
    except ProtocolError:
        return "err"
    return (f"ok {m.model_id.encode().hex()} {m.version} {m.tier} {m.sha256.hex()} {m.size} "
            f"{m.arena_bytes} {m.chunk_bytes} {bits(m.conf_threshold)} {bits(m.margin_threshold)} "
            f"{bits(m.complexity_limit)} {int(m.targets('cam-01'))}")


def _check(cmd: str, cases: list[bytes], python: Any, extra: str = "") -> None:
    got = run_parity([f"{cmd} {d.hex() or '-'}{extra}" for d in cases])
    got = ["err" if g.startswith("err") else g for g in got]
    compare(cases, got, [python(d) for d in cases])


def test_manifest_parity_on_random_documents() -> None:
    rng = np.random.default_rng(14)
    cases = [_pack(_manifest_doc(rng), rng) for _ in range(1500)]
    outcomes = [_py_manifest(d) for d in cases]
    assert 200 < sum(o != "err" for o in outcomes) < 1400  # both outcomes well exercised
    _check("manifest", cases, _py_manifest, " cam-01")


def test_manifest_parity_on_truncations_and_flips() -> None:
    rng = np.random.default_rng(15)
    base = encode(ModelManifest("mnist-mcu", 7, "edge", bytes(range(32)), 1000, 1, 100, 0.5,
                                0.5, 1.0, devices=("cam-01",)))
    cases = [base[:n] for n in range(len(base))]
    for _ in range(300):
        b = bytearray(base)
        b[int(rng.integers(0, len(b)))] ^= 1 << int(rng.integers(0, 8))
        cases.append(bytes(b))
    _check("manifest", cases, _py_manifest, " cam-01")


def _py_chunk(data: bytes) -> str:
    try:
        c = decode(ModelChunk, data)
    except ProtocolError:
        return "err"
    return f"ok {c.model_id.encode().hex()} {c.version} {c.index} {c.offset} {c.data.hex()}"


def test_chunk_parity_on_random_and_damaged_documents() -> None:
    rng = np.random.default_rng(16)
    cases = []
    for _ in range(600):
        doc = dict(msgpack.unpackb(encode(ModelChunk("mnist-mcu", 2, 3, 12288, b"\x01\x02" * 9)),
                                   strict_map_key=False))
        key = int(rng.integers(0, 7))
        doc[key] = pick(rng, [None, -1, 0, 65535, 65536, 2**32, "m", b"", b"\x05", 1.0, True])
        cases.append(_pack(doc, rng))
    good = encode(ModelChunk("m", 1, 0, 0, b"abc"))
    cases += [good[:n] for n in range(len(good) + 1)]
    _check("chunk", cases, _py_chunk)


# -- admission and assembly: ec_ota_admit / ec_ota_chunk / verify vs emulator/ota.py ----------
def _py_ota(m_bytes: bytes, device: str, model: str, running: int, arena: int, slot: int,
            chunks: list[bytes]) -> str:
    from edgecascade.emulator import ota

    try:
        m = decode(ModelManifest, m_bytes)
    except ProtocolError:
        return "err"
    v = ota.admit(m, device_id=device, model_id=model, running_version=running,
                  arena_bytes=arena, slot_bytes=slot)
    if v is not ota.Verdict.START:
        return v.value
    out = ["start"]
    a = ota.Assembly(m)
    data = bytearray(m.size)
    for raw in chunks:
        try:
            c = decode(ModelChunk, raw)
        except ProtocolError:
            out.append("err")
            continue
        outcome = a.check(c)
        if outcome is ota.ChunkOutcome.STORED:
            data[c.offset:c.offset + len(c.data)] = c.data
        out.append(outcome.value)
    out += ["complete", str(int(a.complete))]
    if a.complete:
        out += ["verified", str(int(ota.verify(m, bytes(data))))]
    return " ".join(out)


def _ota_case(rng: np.random.Generator) -> tuple[bytes, str, str, int, int, int, list[bytes]]:
    size = int(rng.integers(1, 3000))
    chunk = int(rng.integers(size // 200 + 1, 1025))  # at most 200 chunks
    model = bytes(rng.integers(0, 256, size, dtype=np.uint8))
    version = int(rng.integers(1, 5))
    devices = pick(rng, [(), ("cam-01",), ("cam-02",), ("cam-02", "cam-01")])
    m = ModelManifest("mnist-mcu", version, "mcu", hashlib.sha256(model).digest(), size,
                      int(rng.integers(1000, 3000)), chunk, 0.5, 0.5, 1.0, devices=devices)
    n = m.chunks
    raw = [ModelChunk("mnist-mcu", version, i, i * chunk, model[i * chunk:(i + 1) * chunk])
           for i in range(n)]
    order = list(rng.permutation(n))
    if rng.random() < 0.3:
        order += [int(rng.integers(0, n))]  # a duplicate
    if rng.random() < 0.2 and n > 1:
        order.remove(int(rng.integers(0, n)))  # one missing: never complete
    sent: list[bytes] = []
    for i in order:
        c = raw[i]
        roll = rng.random()
        if roll < 0.05:
            c = ModelChunk(c.model_id, c.version, c.index, c.offset + 1, c.data)
        elif roll < 0.1:
            c = ModelChunk(c.model_id, c.version + 1, c.index, c.offset, c.data)
        elif roll < 0.15 and len(c.data) > 1:
            c = ModelChunk(c.model_id, c.version, c.index, c.offset, c.data[:-1])
        elif roll < 0.2:
            c = ModelChunk(c.model_id, c.version, c.index + n, (c.index + n) * chunk, c.data)
        elif roll < 0.25:
            c = ModelChunk(c.model_id, c.version, c.index, c.offset,
                           bytes([c.data[0] ^ 4]) + c.data[1:])  # stored, fails sha256
        elif roll < 0.27:
            c = ModelChunk("other", c.version, c.index, c.offset, c.data)
        sent.append(encode(c))
    return (encode(m), pick(rng, ["cam-01", "cam-01", "cam-03"]),
            pick(rng, ["mnist-mcu"] * 5 + ["other"]), pick(rng, [0, version, version + 1]),
            int(rng.integers(900, 3200)), int(rng.integers(size - 10, size + 10)), sent)


def test_admission_and_assembly_parity() -> None:
    rng = np.random.default_rng(17)
    cases = [_ota_case(rng) for _ in range(400)]
    want = [_py_ota(*c) for c in cases]
    kinds = {w.split()[0] for w in want}
    assert kinds >= {"start", "ignore", "too_large", "arena_too_small"}, kinds
    assert any("verified 1" in w for w in want) and any("verified 0" in w for w in want)
    lines = [f"ota {m.hex()} {d} {mid} {run} {arena} {slot} "
             f"{','.join(c.hex() for c in chunks) or '-'}"
             for m, d, mid, run, arena, slot, chunks in cases]
    compare(cases, run_parity(lines), want)
