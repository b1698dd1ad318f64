"""The C provisioning line protocol (ec_provision.c) and the emulator's Python one
(edgecascade.emulator.provisioning) answer every byte stream identically.

Random sessions mix valid commands, bad keys and values, non-ASCII bytes, CR LF,
empty and over-long lines, and time steps across the 30 s idle timeout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .cbuild import run_parity

provisioning = pytest.importorskip("edgecascade.emulator.provisioning")
pytestmark = pytest.mark.usefixtures("parity_tool")

KEYS = ["wifi_ssid", "wifi_pass", "broker_url", "device_id", "conf_threshold",
        "margin_threshold", "complexity_limit", "mqtt_user", "mqtt_pass", "ca_cert",
        "colour", "Bad$Key", ""]
CA_CHUNKS = ["MIIBfzCCASWgAwIBAgIUY" * 4, "QUJD+/==", "A" * 96, "A" * 97, "not base64!", "",
             "abc def"]
VALUES = ["", "x", "My Home", "correct horse", "short", "a" * 33, "a" * 64, "a" * 65,
          "mqtt://10.0.0.2:1883", "mqtts://broker.example:8883", "mqtt://", "http://x",
          "mqtt://has space", "cam-01", "bad id", "D" * 64, "0", "0.9", "1", "1.0", "1.5",
          "0.123456789", "0.1234567891", "000001.5", "1234567", ".5", "1.", "-0.1", "2e-3",
          "0.25", "35.000000001", "caf\xe9", "tab\there"]


def _line(rng: np.random.Generator) -> bytes:
    roll = rng.random()
    if roll < 0.35:
        key, value = KEYS[int(rng.integers(len(KEYS)))], VALUES[int(rng.integers(len(VALUES)))]
        text = f"EC SET {key} {value}" if rng.random() < 0.9 else f"EC SET {key}"
    elif roll < 0.45:
        key = "ca_cert" if rng.random() < 0.8 else KEYS[int(rng.integers(len(KEYS)))]
        verb = "ADD" if rng.random() < 0.8 else "SET"
        text = f"EC {verb} {key} {CA_CHUNKS[int(rng.integers(len(CA_CHUNKS)))]}"
    elif roll < 0.6:
        text = f"EC GET {KEYS[int(rng.integers(len(KEYS)))]}"
    elif roll < 0.8:
        text = ["EC HELLO", "EC COMMIT", "EC EXIT", "EC REBOOT", "EC HELLO ", "ec hello",
                "HELLO", "EC", ""][int(rng.integers(9))]
    elif roll < 0.9:
        text = "EC SET wifi_ssid " + "z" * int(rng.integers(100, 200))
    else:
        raw = bytes(rng.integers(0, 256, int(rng.integers(1, 40))).astype(np.uint8))
        return raw.replace(b"\n", b"") + b"\n"
    end = b"\r\n" if rng.random() < 0.2 else b"\n"
    return text.encode("latin-1") + end


def _session(rng: np.random.Generator) -> tuple[bool, list[tuple[int, bytes]]]:
    now, steps = 0, []
    for _ in range(int(rng.integers(1, 40))):
        now += 1000 * int(rng.choice([0, 1, 5, 29, 30, 31]))
        lines = b"".join(_line(rng) for _ in range(int(rng.integers(1, 4))))
        if rng.random() < 0.15:  # a line split across two reads
            cut = int(rng.integers(0, len(lines)))
            steps += [(now, lines[:cut]), (now, lines[cut:])]
        else:
            steps.append((now, lines))
    return bool(rng.random() < 0.2), steps


def _python(fail: bool, steps: list[tuple[int, bytes]]) -> list[str]:
    p = provisioning.Provisioning(provisioning.Settings(), "0.1.0", save=lambda s: not fail)
    out = []
    for now, data in steps:
        answers = p.feed(data, now / 1000.0)
        text = ",".join(a.hex() for a in answers) if answers else "-"
        out.append(f"{text} p{int(p.is_paused(now / 1000.0))}")
    return out


def test_provisioning_parity_with_the_emulator() -> None:
    rng = np.random.default_rng(31)
    sessions = [_session(rng) for _ in range(150)]
    lines: list[str] = []
    want: list[str] = []
    cases: list[Any] = []
    for fail, steps in sessions:
        lines.append(f"prov_reset {int(fail)}")
        want.append("ok")
        cases.append(("reset", fail))
        for now, data in steps:
            lines.append(f"prov {now} {data.hex() or '-'}")
            cases.append((now, data))
        want += _python(fail, steps)
    got = run_parity(lines)
    bad = [(c, g, w) for c, g, w in zip(cases, got, want, strict=True) if g != w]
    if bad:
        case, g, w = bad[0]
        def show(x: str) -> str:
            return x if x in ("ok", "-") else " | ".join(
                bytes.fromhex(h).decode("latin-1") if h != "-" else "-"
                for h in x.split(" ")[0].split(",")) + " " + x.split(" ")[-1]
        raise AssertionError(f"{len(bad)} of {len(cases)} differ; first input {case!r}\n"
                             f"C:      {show(g)!r}\nPython: {show(w)!r}")
    answers = " ".join(want)
    for expected in (b"EC ERR - line_too_long\n", b"EC ERR - storage\n",
                     b"EC ERR ca_cert too_long\n", b"EC ERR ca_cert bad_value\n",
                     b"EC ERR mqtt_pass bad_value\n", b"EC OK ***\n"):
        assert expected.hex() in answers, expected
    assert any(f"EC OK {n}\n".encode().hex() in answers for n in range(200, 1537)), "no CA"
