"""The committed C array is the current mcu model (fails when stale)."""

from __future__ import annotations

import hashlib
import re

from edgecascade.models.registry import Registry
from edgecascade.tools.models import export_c
from edgecascade.tools.models.paths import MODEL_DATA_C, MODEL_DATA_H


def parse_array(source: str) -> bytes:
    body = source.split("ec_mcu_model[] = {", 1)[1].split("};", 1)[0]
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body))


def test_committed_array_is_not_stale(registry: Registry) -> None:
    mcu = registry.for_tier("mcu")
    current = export_c.render_current(mcu.path)
    assert MODEL_DATA_H.read_text() == current.header, \
        "mcu_model_data.h is stale: run `edgecascade models export-c`"
    assert MODEL_DATA_C.read_text() == current.source, \
        "mcu_model_data.c is stale: run `edgecascade models export-c`"


def test_committed_array_bytes_hash_and_alignment(registry: Registry) -> None:
    mcu = registry.for_tier("mcu")
    source = MODEL_DATA_C.read_text()
    header = MODEL_DATA_H.read_text()
    data = parse_array(source)
    assert data == mcu.path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == mcu.sha256
    assert f'EC_MCU_MODEL_SHA256 "{mcu.sha256}"' in header
    assert f"EC_MCU_MODEL_LEN {mcu.size}u" in header
    assert "EC_ALIGNAS(16) const unsigned char ec_mcu_model[]" in source


def test_render_changes_with_the_model() -> None:
    a = export_c.render(b"TFL3" * 4, "x.tflite")
    b = export_c.render(b"TFL3" * 3 + b"TFL4", "x.tflite")
    assert a.source != b.source and a.header != b.header
    assert parse_array(a.source) == b"TFL3" * 4
