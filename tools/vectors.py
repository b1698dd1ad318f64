"""Golden vectors: the encoded bytes of every message type and its edge cases.

``python -m edgecascade.tools.vectors`` (re)writes ``protocol/vectors/NAME.bin`` and
``NAME.json`` (``{"type": KIND, "message": plain form}``). The Python codec and the
C firmware encoder must both reproduce every ``.bin`` byte for byte; a test fails
when the committed files differ from what this module builds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edgecascade.protocol import (
    CloudAnswer,
    CloudItem,
    CloudRequest,
    CloudResponse,
    DeviceConfig,
    DeviceState,
    Frame,
    Metrics,
    ModelChunk,
    ModelManifest,
    OtaStatus,
    Report,
    Result,
    ServiceState,
    WireMessage,
    confidence_to_wire,
    encode,
)

VECTOR_DIR = Path(__file__).resolve().parent.parent / "protocol" / "vectors"

_TS = 1_763_760_000_123
_FRAME = Frame(
    data=bytes((i * 37) % 256 for i in range(28 * 28)),
    shape=(28, 28, 1),
    dtype="int8",
    scale=1 / 255,
    zero_point=-128,
)
_SMALL_FRAME = Frame(data=bytes(range(12)), shape=(3, 4), dtype="uint8", scale=1.0, zero_point=0)
_C = confidence_to_wire


def cases() -> dict[str, WireMessage]:
    """Every vector by name. Names starting ``report_`` are what the firmware encodes."""
    return {
        "report_top1_min": Report("d", 0, 0, 0, "m", 0, (0,), (0,)),
        "report_top3_confident": Report(
            "cam-01", 1, 42, _TS, "mnist-mcu", 1, (7, 1, 9), (_C(0.97), _C(0.02), _C(0.005))
        ),
        "report_unsure_with_frame": Report(
            "cam-02", 7, 1000, _TS, "mnist-mcu", 1, (3, 5, 8), (_C(0.41), _C(0.38), _C(0.1)),
            frame=_FRAME, complexity=0.3125,
        ),
        "report_all_optionals": Report(
            "sensor_A-9", 4_294_967_295, 4_294_967_295, 18_446_744_073_709_551_615,
            "mnist-mcu", 65_536, (2, 4), (65_535, 0), frame=_SMALL_FRAME, complexity=1.5,
            deadline_ms=250, priority=255, private=True,
        ),
        "report_long_ids": Report(
            "D" * 64, 65_536, 256, 1 << 32, "m" * 64, 128,
            tuple(range(10)), tuple(65_535 - 1000 * i for i in range(10)),
        ),
        "result_device": Result(
            "cam-01", 1, 42, 7, 0.97, "device", "mnist-mcu", 1, 0.8, 0.0, "confident", 0,
            "gw-1", _TS,
        ),
        "result_cloud_correction": Result(
            "cam-02", 7, 1000, 5, 0.99, "cloud", "mnist-cloud", 3, 812.5, 0.125,
            "cloud_answer", 1, "gw-1", _TS + 900, escalation="low_confidence",
        ),
        "result_degraded_stale": Result(
            "cam-02", 7, 1001, 3, 0.4, "cache", "mnist-edge", 2, 2.5, 0.0, "cloud_down",
            0, "gw-1", _TS, degraded=True, stale=True, age_ms=60_000,
            escalation="low_confidence",
        ),
        "cloud_request": CloudRequest(
            "gw-1-000001", "gw-1", _TS, 1500,
            (
                CloudItem("cam-02", 7, 1000, frame=_SMALL_FRAME),
                CloudItem("cam-03", 1, 5, frame_ref="s3://ec-frames/gw-1/cam-03/1/5"),
            ),
        ),
        "cloud_response_ok": CloudResponse(
            "gw-1-000001", "ok", "worker-a", "mnist-cloud", 3, 4.25, _TS + 20,
            (
                CloudAnswer("cam-02", 7, 1000, label=5, confidence=0.99),
                CloudAnswer("cam-03", 1, 5, error="frame_ref not found"),
            ),
        ),
        "cloud_response_error": CloudResponse(
            "gw-1-000002", "error", "worker-a", "mnist-cloud", 3, 0.0, _TS + 20,
            error="model failed to load",
        ),
        "device_birth": DeviceState(
            "cam-01", True, _TS, epoch=1, model_id="mnist-mcu", model_version=1,
            fw_version="0.1.0",
        ),
        "device_death": DeviceState("cam-01", False, 0),
        "device_config": DeviceConfig(3, 0.9, 0.25, 0.35, epoch=12),
        "gateway_state": ServiceState("gw-1", True, _TS, version="0.1.0"),
        "worker_state": ServiceState("worker-a", False, _TS, model_id="mnist-cloud"),
        # Keys are Prometheus sample names, as on the topic and on /metrics.
        "metrics": Metrics("gw-1", _TS, {
            "ec_gateway_reports_total": 1200.0,
            'ec_gateway_results_total{reason="confident",tier="device"}': 1000.0,
            "ec_gateway_circuit_state": 0.0,
        }),
        "model_manifest": ModelManifest(
            "mnist-mcu", 2, "mcu", bytes(range(32)), 18024, 16128, 4096, 0.9, 0.25, 0.35,
        ),
        "model_manifest_targets": ModelManifest(
            "mnist-mcu", 65_536, "mcu", bytes(range(255, 223, -1)), 131_072, 24_576, 65_536,
            1.0, 0.0, 2.5, devices=("cam-01", "D" * 64),
        ),
        "model_chunk": ModelChunk(
            "mnist-mcu", 2, 1, 4096, bytes((i * 13) % 256 for i in range(300))
        ),
        "ota_status": OtaStatus("cam-01", _TS, "mnist-mcu", 2, "rejected", "arena_too_small", 1),
    }


def write(directory: Path = VECTOR_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, message in cases().items():
        (directory / f"{name}.bin").write_bytes(encode(message))
        doc = {"type": message.KIND, "message": message.to_plain()}
        (directory / f"{name}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        written += [directory / f"{name}.bin", directory / f"{name}.json"]
    return written


if __name__ == "__main__":
    paths = write(Path(sys.argv[1]) if len(sys.argv) > 1 else VECTOR_DIR)
    print(f"wrote {len(paths)} files")
