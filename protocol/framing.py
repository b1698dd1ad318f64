"""Python twin of ``firmware/core/ec_framing.c``: serial frames for boards without a
network, and the streaming decoder a serial bridge uses.

One frame: ``COBS(payload + crc16_be(payload)) + b"\\x00"``, standard COBS (no empty
trailing block after a full 254-byte block), CRC-16/CCITT-FALSE (poly 0x1021, init
0xFFFF, not reflected, xorout 0 = :func:`binascii.crc_hqx` with 0xFFFF).

:class:`Deframer` takes bytes as they come and returns complete payloads. Garbage,
bad COBS, a CRC mismatch, a frame shorter than its CRC or longer than ``max_frame``
encoded bytes each count as one bad frame (``stats``), and decoding resumes after the
next 0x00. Empty frames (``00 00``) are idle fill, not errors. COBS is written here
(twenty lines) rather than taken from the ``cobs`` package so that the gateway needs
no extra dependency and the byte-level behaviour is the C one by construction.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

#: Default decoder buffer (encoded bytes): room for a report with a 28x28 frame.
DEFAULT_MAX_FRAME = 2048


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (``ec_crc16``)."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    out = bytearray([0])
    code_pos, code = 0, 1
    for b in data:
        if b == 0 or code == 0xFF:
            out[code_pos] = code
            code_pos, code = len(out), 1
            out.append(0)
            if b == 0:
                continue
        out.append(b)
        code += 1
    out[code_pos] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes | None:
    """Decoded bytes, or None when ``data`` is not valid COBS."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        i += 1
        if code == 0 or code - 1 > len(data) - i:
            return None
        out += data[i : i + code - 1]
        i += code - 1
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def encode_frame(payload: bytes) -> bytes:
    """One complete frame, delimiter included (``ec_framing_encode``)."""
    return cobs_encode(bytes(payload) + crc16(payload).to_bytes(2, "big")) + b"\x00"


@dataclass
class DeframerStats:
    frames_ok: int = 0
    bad_cobs: int = 0
    bad_crc: int = 0
    too_long: int = 0
    too_short: int = 0

    @property
    def bad_frames(self) -> int:
        return self.bad_cobs + self.bad_crc + self.too_long + self.too_short


class Deframer:
    """Streaming decoder (``ec_deframer_t``); ``max_frame`` bounds one encoded frame."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be >= 1")
        self.max_frame = max_frame
        self.stats = DeframerStats()
        self._buf = bytearray()
        self._overflow = False

    @property
    def bad_frames(self) -> int:
        return self.stats.bad_frames

    def feed(self, data: bytes) -> list[bytes]:
        """Feed received bytes; returns the payloads of the frames they completed."""
        frames: list[bytes] = []
        for b in data:
            if b != 0:
                if self._overflow:
                    continue
                if len(self._buf) >= self.max_frame:
                    self._overflow = True
                    continue
                self._buf.append(b)
                continue
            payload = self._end_frame()
            if payload is not None:
                frames.append(payload)
        return frames

    def _end_frame(self) -> bytes | None:
        raw, overflow = bytes(self._buf), self._overflow
        self._buf.clear()
        self._overflow = False
        if overflow:
            self.stats.too_long += 1
            return None
        if not raw:
            return None
        decoded = cobs_decode(raw)
        if decoded is None:
            self.stats.bad_cobs += 1
            return None
        if len(decoded) < 2:
            self.stats.too_short += 1
            return None
        body = decoded[:-2]
        if crc16(body) != int.from_bytes(decoded[-2:], "big"):
            self.stats.bad_crc += 1
            return None
        self.stats.frames_ok += 1
        return body
