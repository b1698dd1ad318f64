"""What the cloud client puts in the spool and what it sends: items and request envelopes.

Pure (no clock, no ids drawn here): a frame goes inline as a spooled
:class:`CloudItem` when its encoding fits a request (``ITEMS_BUDGET``), otherwise by
claim check (the spooled item carries the store's ref); a request is the first group
:func:`.packing.pack` makes of the oldest ready spooled items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgecascade.protocol import CloudItem, CloudRequest, Frame, ProtocolError, decode, encode

from .packing import ITEMS_BUDGET, pack
from .spool import Key, SpooledItem


def inline_item(key: Key, frame: Frame) -> bytes | None:
    """The spooled bytes of a frame sent inline, or None when it must go by claim check."""
    try:
        data = encode(CloudItem(device_id=key[0], epoch=key[1], seq=key[2], frame=frame))
    except ProtocolError:
        return None
    return data if data and len(data) <= ITEMS_BUDGET else None


def claim_name(gateway_id: str, key: Key) -> str:
    """The claim-check store's name for one frame."""
    return f"{gateway_id}/{key[0]}/{key[1]}/{key[2]}"


def ref_item(key: Key, ref: str) -> bytes:
    """The spooled bytes of a claim-checked frame: its ref instead of its pixels."""
    return encode(CloudItem(device_id=key[0], epoch=key[1], seq=key[2], frame_ref=ref))


@dataclass(frozen=True)
class Packed:
    request: CloudRequest
    payload: bytes
    chosen: tuple[SpooledItem, ...]  # the spooled items the request carries


def build_request(batch: Sequence[SpooledItem], *, correlation_id: str, gateway_id: str,
                  now: float, deadline_ms: int, max_items: int,
                  nonce: bytes | None = None) -> Packed:
    """One request from the first packed group of ``batch`` (non-empty, oldest first)."""
    items = [decode(CloudItem, b.item) for b in batch]
    group = pack([len(b.item) for b in batch], max_items)[0]
    request = CloudRequest(
        correlation_id=correlation_id,
        gateway_id=gateway_id,
        ts_ms=int(now * 1000),
        deadline_ms=deadline_ms,
        items=tuple(items[i] for i in group),
        nonce=nonce,
    )
    return Packed(request, encode(request), tuple(batch[i] for i in group))
