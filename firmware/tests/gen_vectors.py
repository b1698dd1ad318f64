"""Generate a C header of golden-vector test cases from ``protocol/vectors/``.

Usage: ``python firmware/tests/gen_vectors.py OUT.h``. Each Report and DeviceState
vector's JSON form (``*.json``, read with ``from_plain``) becomes a C struct
initializer, and its ``*.bin`` the bytes the C encoder must produce; the DeviceConfig
vector becomes its bytes plus the decoded values; device topics come from the
Python ``Topics`` builder. The C tests encode/decode and compare (test_vectors.c).
The header is a build product (firmware/build/), regenerated on every build.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path

from edgecascade.protocol import DeviceConfig, DeviceState, Frame, Report, Topics, decode
from edgecascade.protocol.ota_messages import OTA_REASONS, ModelChunk, ModelManifest, OtaStatus

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"


def c_bytes(data: bytes) -> str:
    return "{" + ", ".join(f"0x{b:02x}" for b in data) + "}" if data else "{0}"


def c_str(s: str | None) -> str:
    return "NULL" if s is None else json.dumps(s)


def f32_bits(x: float) -> str:
    return f"0x{struct.unpack('<I', struct.pack('<f', x))[0]:08x}u"


def frame_init(name: str, f: Frame) -> list[str]:
    shape = ", ".join(str(d) for d in f.shape)
    dtype = "EC_DTYPE_INT8" if f.dtype == "int8" else "EC_DTYPE_UINT8"
    return [
        f"static const uint8_t {name}_data[] = {c_bytes(f.data)};",
        f"static const ec_frame_t {name} = {{{name}_data, {len(f.data)}u, {{{shape}}}, "
        f"{len(f.shape)}, {dtype}, {f.scale!r}f, {f.zero_point}}};",
    ]


def report_case(stem: str, r: Report, raw: bytes) -> tuple[list[str], str]:
    lines: list[str] = []
    frame = "NULL"
    if r.frame is not None:
        lines += frame_init(f"{stem}_frame", r.frame)
        frame = f"&{stem}_frame"
    classes = ", ".join(map(str, r.classes))
    confs = ", ".join(map(str, r.confidences))
    lines.append(f"static const uint8_t {stem}_bin[] = {c_bytes(raw)};")
    init = (
        f"{{\"{stem}\", {{{c_str(r.device_id)}, {r.epoch}u, {r.seq}u, {r.ts_ms}ull, "
        f"{c_str(r.model_id)}, {r.model_version}u, {len(r.classes)}, {{{classes}}}, {{{confs}}}, "
        f"{frame}, {int(r.complexity is not None)}, {r.complexity or 0.0!r}f, "
        f"{int(r.deadline_ms is not None)}, {r.deadline_ms or 0}u, "
        f"{int(r.priority is not None)}, {r.priority or 0}, {int(r.private)}}}, "
        f"{stem}_bin, sizeof {stem}_bin}}"
    )
    return lines, init


def state_case(stem: str, s: DeviceState, raw: bytes) -> tuple[list[str], str]:
    lines = [f"static const uint8_t {stem}_bin[] = {c_bytes(raw)};"]
    init = (
        f"{{\"{stem}\", {{{c_str(s.device_id)}, {int(s.online)}, {s.ts_ms}ull, "
        f"{int(s.epoch is not None)}, {s.epoch or 0}u, {c_str(s.model_id)}, "
        f"{int(s.model_version is not None)}, {s.model_version or 0}u, "
        f"{c_str(s.fw_version)}, {int(s.dropped is not None)}, {s.dropped or 0}u}}, "
        f"{stem}_bin, sizeof {stem}_bin}}"
    )
    return lines, init


#: Lengths the C sha256 is checked at against hashlib (block and padding edges).
SHA_LENGTHS = (0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 4099)


def sha_data(n: int) -> bytes:
    """The test message of length n (the C test builds the same bytes)."""
    return bytes((i * 7 + 3) % 256 for i in range(n))


def ota_lines(vectors: list[tuple[str, str, bytes]]) -> list[str]:
    """Manifest, chunk and OtaStatus vectors, sha256 digests and the reason names."""
    lines = [
        "typedef struct { const char *name; const uint8_t *bin; size_t len; "
        "const char *model_id; uint32_t version; const char *tier; uint8_t sha256[32]; "
        "uint32_t size; uint32_t arena_bytes; uint32_t chunk_bytes; uint32_t conf_bits; "
        "uint32_t margin_bits; uint32_t limit_bits; int targets_cam01; int targets_other; "
        "} manifest_vector_t;",
        "typedef struct { const char *name; const uint8_t *bin; size_t len; "
        "const char *model_id; uint32_t version; uint16_t index; uint32_t offset; "
        "const uint8_t *data; uint32_t data_len; } chunk_vector_t;",
        "typedef struct { const char *name; const uint8_t *bin; size_t len; "
        "const char *device_id; uint64_t ts_ms; const char *model_id; uint32_t version; "
        "const char *state; int reason; uint32_t running_version; } status_vector_t;",
    ]
    manifests, chunks, statuses = [], [], []
    for stem, kind, raw in vectors:
        lines.append(f"static const uint8_t {stem}_bin[] = {c_bytes(raw)};")
        if kind == "model_manifest":
            m = decode(ModelManifest, raw)
            manifests.append(
                f"{{\"{stem}\", {stem}_bin, sizeof {stem}_bin, {c_str(m.model_id)}, "
                f"{m.version}u, {c_str(m.tier)}, {c_bytes(m.sha256)}, {m.size}u, "
                f"{m.arena_bytes}u, {m.chunk_bytes}u, {f32_bits(m.conf_threshold)}, "
                f"{f32_bits(m.margin_threshold)}, {f32_bits(m.complexity_limit)}, "
                f"{int(m.targets('cam-01'))}, {int(m.targets('cam-99'))}}}")
        elif kind == "model_chunk":
            c = decode(ModelChunk, raw)
            lines.append(f"static const uint8_t {stem}_data[] = {c_bytes(c.data)};")
            chunks.append(
                f"{{\"{stem}\", {stem}_bin, sizeof {stem}_bin, {c_str(c.model_id)}, "
                f"{c.version}u, {c.index}u, {c.offset}u, {stem}_data, {len(c.data)}u}}")
        else:
            st = decode(OtaStatus, raw)
            statuses.append(
                f"{{\"{stem}\", {stem}_bin, sizeof {stem}_bin, {c_str(st.device_id)}, "
                f"{st.ts_ms}ull, {c_str(st.model_id)}, {st.version}u, {c_str(st.state)}, "
                f"{OTA_REASONS.index(st.reason)}, {st.running_version}u}}")
    lines += [
        f"static const manifest_vector_t manifest_vectors[] = {{{', '.join(manifests)}}};",
        f"static const chunk_vector_t chunk_vectors[] = {{{', '.join(chunks)}}};",
        f"static const status_vector_t status_vectors[] = {{{', '.join(statuses)}}};",
        "static const char *const ota_reason_names[] = {"
        + ", ".join(c_str(r) for r in OTA_REASONS) + "};",
        "typedef struct { size_t len; uint8_t digest[32]; } sha_vector_t;",
        "static const sha_vector_t sha_vectors[] = {"
        + ", ".join(f"{{{n}u, {c_bytes(hashlib.sha256(sha_data(n)).digest())}}}"
                    for n in SHA_LENGTHS) + "};",
    ]
    return lines


def main(out: Path) -> None:
    lines = [
        "/* Generated by firmware/tests/gen_vectors.py from protocol/vectors; do not edit. */",
        "#include <stddef.h>",
        "#include <stdint.h>",
        '#include "ec_report.h"',
        "typedef struct { const char *name; ec_report_t report; const uint8_t *bin; "
        "size_t len; } report_vector_t;",
        "typedef struct { const char *name; ec_state_t state; const uint8_t *bin; "
        "size_t len; } state_vector_t;",
    ]
    reports: list[str] = []
    states: list[str] = []
    ota: list[tuple[str, str, bytes]] = []
    for path in sorted(VECTORS.glob("*.json")):
        doc = json.loads(path.read_text())
        raw = path.with_suffix(".bin").read_bytes()
        stem = "v_" + path.stem
        if doc["type"] == "report":
            extra, init = report_case(stem, Report.from_plain(doc["message"]), raw)
            lines += extra
            reports.append(init)
        elif doc["type"] == "device_state":
            extra, init = state_case(stem, DeviceState.from_plain(doc["message"]), raw)
            lines += extra
            states.append(init)
        elif doc["type"] in ("model_manifest", "model_chunk", "ota_status"):
            ota.append((stem, doc["type"], raw))
        elif doc["type"] == "device_config":
            c = decode(DeviceConfig, raw)
            lines += [
                f"static const uint8_t config_vector_bin[] = {c_bytes(raw)};",
                f"#define CONFIG_VECTOR_REVISION {c.revision}u",
                f"#define CONFIG_VECTOR_CONF_BITS {f32_bits(c.conf_threshold)}",
                f"#define CONFIG_VECTOR_MARGIN_BITS {f32_bits(c.margin_threshold)}",
                f"#define CONFIG_VECTOR_LIMIT_BITS {f32_bits(c.complexity_limit)}",
                f"#define CONFIG_VECTOR_HAS_EPOCH {int(c.epoch is not None)}",
                f"#define CONFIG_VECTOR_EPOCH {c.epoch or 0}u",
            ]
    lines.append(f"static const report_vector_t report_vectors[] = {{{', '.join(reports)}}};")
    lines.append(f"static const state_vector_t state_vectors[] = {{{', '.join(states)}}};")
    lines += ota_lines(ota)
    t = Topics()
    lines += [
        f"#define TOPIC_REPORT_CAM01 {c_str(t.device_report('cam-01'))}",
        f"#define TOPIC_STATE_CAM01 {c_str(t.device_state('cam-01'))}",
        f"#define TOPIC_CONFIG_CAM01 {c_str(t.device_config('cam-01'))}",
        f"#define TOPIC_OTA_CAM01 {c_str(t.device_ota('cam-01'))}",
        f"#define TOPIC_MANIFEST_MCU {c_str(t.model_manifest('mcu'))}",
        f"#define TOPIC_CHUNK_MCU_V2_FILTER {c_str(t.model_chunk_filter('mcu', 2))}",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
