"""Packing escalated frames into cloud requests (pure).

Several frames share one :class:`CloudRequest` (fewer billed AWS messages), as long as
the encoded request stays within the 128 KB payload limit and ``max_items``. Sizes are
bounded without trial encoding: a nested item is never larger than the same item
encoded alone, and the envelope costs at most :data:`ENVELOPE_BYTES`.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgecascade.protocol import billed_messages
from edgecascade.protocol.limits import MAX_ITEMS_PER_REQUEST, MAX_PAYLOAD_BYTES

#: Upper bound of a request's bytes besides its items (ids, timestamps, map headers).
ENVELOPE_BYTES = 256
#: Most bytes the items of one request may take.
ITEMS_BUDGET = MAX_PAYLOAD_BYTES - ENVELOPE_BYTES


def pack(sizes: Sequence[int], max_items: int = MAX_ITEMS_PER_REQUEST,
         budget: int = ITEMS_BUDGET) -> list[list[int]]:
    """Split item indices, in order, into groups within ``max_items`` and ``budget`` bytes.

    An item larger than ``budget`` by itself cannot be sent inline: it is left out and
    must go by claim check (see :mod:`edgecascade.protocol.claimcheck`).
    """
    groups: list[list[int]] = []
    cur: list[int] = []
    used = 0
    for i, size in enumerate(sizes):
        if size > budget:
            continue
        if cur and (len(cur) >= max_items or used + size > budget):
            groups.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += size
    if cur:
        groups.append(cur)
    return groups


def cost_per_item(request_bytes: int, response_bytes: int, items: int) -> float:
    """Billed AWS messages attributable to each frame of one request/response pair."""
    return (billed_messages(request_bytes) + billed_messages(response_bytes)) / max(1, items)
