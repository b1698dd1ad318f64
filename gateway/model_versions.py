"""Device thresholds per model version: the gateway judges each report by the thresholds
calibrated for the model that made it.

During a rollout devices run different mcu versions; a threshold calibrated for v2 says
nothing about v1's confidences. The one place a version's device thresholds live on the
wire is its ``ModelManifest`` (retained on ``Topics.model_manifest(tier)``); this module
keeps every manifest seen, keyed by ``(model_id, version)``, and answers the thresholds
for a report. A version never announced (the one the fleet was flashed with) gets the
gateway's configured thresholds (``thresholds.json`` < ``[thresholds]`` < env).

Pure: :class:`VersionThresholds` is frozen; :meth:`with_manifest` returns a new table.
The shell (``gateway/service.py``) subscribes to the manifest filter, feeds payloads to
:func:`observe`, and calls :meth:`VersionThresholds.for_report` where it used
``cfg.thresholds`` for device escalation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from edgecascade.models.cascade import Thresholds
from edgecascade.protocol import ProtocolError, Report, decode
from edgecascade.protocol.ota_messages import ModelManifest


@dataclass(frozen=True)
class VersionThresholds:
    """``default`` plus one row per announced ``(model_id, version)``."""

    default: Thresholds
    rows: tuple[tuple[tuple[str, int], Thresholds], ...] = field(default=())

    def with_manifest(self, m: ModelManifest) -> VersionThresholds:
        """The table with ``m``'s device thresholds for its model version (edge settings
        kept from the default: they belong to the edge model, not to this one)."""
        t = replace(self.default, device_confidence=m.conf_threshold,
                    device_margin=m.margin_threshold, complexity_limit=m.complexity_limit)
        key = (m.model_id, m.version)
        rows = tuple(r for r in self.rows if r[0] != key) + ((key, t),)
        return replace(self, rows=rows)

    def for_version(self, model_id: str, version: int) -> Thresholds:
        for key, t in self.rows:
            if key == (model_id, version):
                return t
        return self.default

    def for_report(self, report: Report) -> Thresholds:
        """The thresholds of the model version this report names."""
        return self.for_version(report.model_id, report.model_version)


def observe(table: VersionThresholds, payload: bytes) -> tuple[VersionThresholds, str | None]:
    """Fold one manifest payload into the table: ``(table, None)``, or the table unchanged
    and the reason a bad payload was refused (for the ``rejected`` metric)."""
    try:
        m = decode(ModelManifest, payload)
    except ProtocolError as exc:
        return table, exc.reason
    return table.with_manifest(m), None
