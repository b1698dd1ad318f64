"""The degraded answer chosen by measured expected accuracy (pure).

When a frame has left the device and the tier that should answer cannot (edge off or
busy, cloud down or late), the gateway answers from a local source. Which source is
most often right is measured per workload at calibration (``thresholds.json``
``fallback``: accuracy of ``device``, ``edge`` and ``last_good@<age in reports>`` on
calibration frames that left the device) and reaches the gateway as
``Thresholds.fallback_order``, best first. :func:`measured_fallback` takes the first
available source in that order; the Result's ``tier`` names it (``device``, ``edge``,
or ``cache`` for the stream's last-good answer, with ``stale`` and ``age_ms``).

The gateway does not count reports between a stream's answers, so every
``last_good@k`` entry stands for "the last-good answer, if younger than
``stale_max_age_s``"; its first (best) position in the order is the one used. With no
measured order (a thresholds file that predates it) the built-in rule of
:func:`edgecascade.gateway.answers.fallback` applies.
"""

from __future__ import annotations

from dataclasses import replace

from edgecascade.protocol import Tier

from .answers import fallback
from .cache import Answer

SOURCES = ("device", "edge", "last_good")


def source_of(entry: str) -> str:
    """``last_good@3`` -> ``last_good``; other names unchanged."""
    return entry.split("@", 1)[0]


def measured_fallback(device: Answer, edge: Answer | None, last: Answer | None, now_ms: int,
                      max_age_ms: int, order: tuple[str, ...] = ()) -> tuple[Answer, bool]:
    """(answer, stale) from the measured-best available source."""
    if not order:
        return fallback(device, edge, last, now_ms, max_age_ms)
    available: dict[str, tuple[Answer, bool]] = {"device": (device, False)}
    if edge is not None:
        available["edge"] = (edge, False)
    if last is not None and 0 <= now_ms - last.ts_ms <= max_age_ms:
        available["last_good"] = (replace(last, tier=Tier.CACHE.value), True)
    for entry in order:
        chosen = available.get(source_of(entry))
        if chosen is not None:
            return chosen
    return device, False
