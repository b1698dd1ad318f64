"""The one exception type the protocol raises.

``ProtocolError`` carries three fields so that a gateway can count rejections by
reason and log them without payload bytes:

* ``what``  - which message or topic kind was being handled (``"report"``, ``"topic"``),
* ``where`` - the field path inside it (``"frame.shape"``; empty for the whole message),
* ``why``   - a human sentence saying what is wrong.
"""

from __future__ import annotations

from edgecascade.errors import EdgecascadeError


class ProtocolError(EdgecascadeError, ValueError):
    """Bad bytes, a bad field, or a bad topic. Never anything else escapes decoding."""

    def __init__(self, what: str, where: str, why: str) -> None:
        self.what = what
        self.where = where
        self.why = why
        location = f"{what}.{where}" if where else what
        super().__init__(f"{location}: {why}")

    @property
    def reason(self) -> str:
        """A short, bounded label for metrics: ``what:where``."""
        return f"{self.what}:{self.where or '*'}"
