"""The gateway's readiness (``/readyz``): a pure function of what the shell knows."""

from __future__ import annotations

from collections.abc import Mapping


def readiness(stopping: bool, connected: bool, failing: Mapping[str, str],
              session_lost: str | None = None) -> tuple[bool, str]:
    """(ready, why). A state disk that refuses writes keeps the gateway ready (200): it
    still answers and acknowledges every report, and taking it out of service would
    neither free the disk nor leave the site's reports anywhere better; the text says
    ``degraded storage`` (alert on ``ec_gateway_storage_degraded``). ``failing`` maps a
    store's name to why it fails. ``session_lost`` (when the site broker recently had
    no session for us, so reports queued for us may be gone) is said the same way: still
    ready (alert on ``ec_gateway_site_sessions_lost_total``)."""
    if stopping:
        return False, "stopping"
    if not connected:
        return False, "not connected to the site broker"
    notes = []
    if failing:
        stores = ", ".join(f"{name}: {why}" for name, why in sorted(failing.items()))
        notes.append(f"degraded storage ({stores})")
    if session_lost:
        notes.append(f"site session lost ({session_lost})")
    return True, ", ".join(["ready", *notes])
