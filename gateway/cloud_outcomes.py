"""Matching a cloud response to the request it answers: one outcome per frame. Pure.

A response names its request by correlation id; :func:`match_response` turns it into one
:class:`CloudOutcome` per answered frame (an ``error`` response becomes one error answer
per frame of the request) with the frame's share of the billed cost, and lists the
frames the worker left out (still owed: the client sends them again).

A response is taken only when it echoes its request's nonce (:func:`take_request`): anyone
who can publish on the response topic but did not read the request cannot answer it, and
a forged answer leaves the request in flight for the real worker's answer.
"""

from __future__ import annotations

import hmac
from collections.abc import MutableMapping
from dataclasses import dataclass

from edgecascade.protocol import CloudAnswer, CloudItem, CloudResponse, billed_messages
from edgecascade.protocol.limits import MAX_TEXT_LENGTH

from .packing import cost_per_item
from .spool import Key


@dataclass(frozen=True)
class CloudOutcome:
    """One frame's answer from the cloud (or the worker's error for it)."""

    item: CloudItem
    answer: CloudAnswer
    model_id: str
    model_version: int
    worker_id: str
    cost: float


@dataclass
class SentRequest:
    """A request on its way (or recently so): its frames, its size, its deadline."""

    items: dict[Key, CloudItem]
    request_bytes: int
    deadline: float
    nonce: bytes | None = None  # what its answer must echo; None: no check (old requests)


NONCE_MISMATCH = "cloud_response:nonce"
UNKNOWN_REQUEST = "cloud_response:unknown"


def take_request(resp: CloudResponse, *tables: MutableMapping[str, SentRequest]
                 ) -> SentRequest | str:
    """Pop the request ``resp`` answers from the first table holding it, or say why not.

    :data:`NONCE_MISMATCH`: a request we sent, but its nonce is not echoed (a forgery, or
    an answer to someone else's copy); the request stays where it was, for the real answer.
    :data:`UNKNOWN_REQUEST`: no request we remember; nothing in it can be checked.
    """
    for table in tables:
        req = table.get(resp.correlation_id)
        if req is None:
            continue
        if req.nonce is not None and not hmac.compare_digest(req.nonce, resp.nonce or b""):
            return NONCE_MISMATCH
        return table.pop(resp.correlation_id)
    return UNKNOWN_REQUEST


def match_response(resp: CloudResponse, payload_bytes: int,
                   req: SentRequest) -> tuple[list[CloudOutcome], list[Key]]:
    """The outcomes ``resp`` carries for ``req`` (in answer order) and the keys it left out."""
    n = max(1, len(req.items) or len(resp.items))
    cost = cost_per_item(req.request_bytes, payload_bytes, n) if req.request_bytes else \
        billed_messages(payload_bytes) / n
    answers = list(resp.items)
    if resp.status == "error":
        answers = [CloudAnswer(device_id=k[0], epoch=k[1], seq=k[2],
                               error=(resp.error or "error")[:MAX_TEXT_LENGTH]) for k in req.items]
    outcomes: list[CloudOutcome] = []
    seen: set[Key] = set()
    for ans in answers:
        item = req.items.get(ans.key) or CloudItem(
            device_id=ans.device_id, epoch=ans.epoch, seq=ans.seq, frame_ref="unknown")
        seen.add(ans.key)
        outcomes.append(CloudOutcome(item, ans, resp.model_id, resp.model_version,
                                     resp.worker_id, cost))
    return outcomes, [k for k in req.items if k not in seen]
