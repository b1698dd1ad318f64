"""Which confident reports carry their frame for an audit: one deterministic rule.

A device with a non-zero ``DeviceConfig.audit_share`` (in 1/65536) attaches the frame to
report ``(device_id, epoch, seq)`` although it is confident when :func:`audit_pick` says
so; the
report's answer stands, and the gateway has the next tier answer the frame only to
measure agreement. The rule is stateless, so the C core (``ec_audit_pick``), the
emulator and the gateway compute the same subset, and the gateway can tell an audited
report from one that should not carry a frame.
"""

from __future__ import annotations

MASK32 = 0xFFFFFFFF
#: ``audit_share`` is a share in 1/65536.
AUDIT_SCALE = 65536


def _fmix32(h: int) -> int:
    """The MurmurHash3 finalizer on 32 bits."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK32
    h ^= h >> 16
    return h


def fnv1a32(text: str) -> int:
    """FNV-1a (32 bits) of a device id's UTF-8 bytes."""
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & MASK32
    return h


def audit_pick(device_id: str, epoch: int, seq: int, share: int) -> bool:
    """Whether report ``(device_id, epoch, seq)`` is in the audited subset of
    ``share``/65536: ``fmix32(seq ^ (epoch * 0x9E3779B1) ^ fnv1a32(device_id)) >> 16 <
    share``. The id makes devices that share an epoch audit different reports."""
    h = _fmix32((seq ^ ((epoch * 0x9E3779B1) & MASK32) ^ fnv1a32(device_id)) & MASK32)
    return (h >> 16) < share


def share_to_wire(fraction: float) -> int:
    """A share of reports (0..1) as ``audit_share`` (rounded, clamped to 0..65535)."""
    return max(0, min(AUDIT_SCALE - 1, round(float(fraction) * AUDIT_SCALE)))
