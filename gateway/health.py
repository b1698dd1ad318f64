"""The gateway's readiness (``/readyz``): a pure function of what the shell knows."""

from __future__ import annotations

from collections.abc import Mapping


def readiness(stopping: bool, connected: bool, failing: Mapping[str, str]) -> tuple[bool, str]:
    """(ready, why). A state disk that refuses writes keeps the gateway ready (200): it
    still answers and acknowledges every report, and taking it out of service would
    neither free the disk nor leave the site's reports anywhere better; the text says
    ``degraded storage`` (alert on ``ec_gateway_storage_degraded``). ``failing`` maps a
    store's name to why it fails."""
    if stopping:
        return False, "stopping"
    if not connected:
        return False, "not connected to the site broker"
    if failing:
        stores = ", ".join(f"{name}: {why}" for name, why in sorted(failing.items()))
        return True, f"ready, degraded storage ({stores})"
    return True, "ready"
