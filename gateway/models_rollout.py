"""Canary rollouts of the mcu model: compare the canary devices with the rest, then
promote or roll back by a rule in the config.

While a manifest targets a canary set (``edgecascade models deploy --canary 10%``), the
gateway tallies, per group (canaries on the new version / everyone else):

* ``frames`` reports, and ``left`` those that left the device (escalated to edge/cloud);
* ``compared`` escalated frames whose edge/cloud answer is final, and ``agreed`` those
  where the device's own top-1 matched it.

:func:`judge` applies :class:`CanaryRule` (the ``[rollout]`` config section, read by
:func:`read_rollout`): wait until both groups have ``min_frames``; roll back when the
canaries' leave-device share exceeds the rest's by more than ``max_leave_increase`` or
their agreement falls below the rest's by more than ``max_agreement_drop``; else promote.
Promoting is republishing the manifest without ``devices``; rolling back is publishing
the previous version's manifest (the device treats any other version as the one to run).

:class:`Rollout` ties it together for the shell: :func:`on_manifest` for every retained
manifest seen, :func:`on_result` for every first final result (with its report); when
the rule decides, ``on_result`` returns the manifest to publish (retained) and the
rollout is over until the next canary manifest. Pure: frozen values in and out.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from edgecascade.config import Problems, section
from edgecascade.protocol import Report, Result
from edgecascade.protocol.ota_messages import ModelManifest


@dataclass(frozen=True)
class CanaryRule:
    """``[rollout]``: when a canary is promoted or rolled back."""

    min_frames: int = 200
    max_leave_increase: float = 0.05
    max_agreement_drop: float = 0.03


def read_rollout(raw: Any, problems: Problems) -> CanaryRule:
    """The ``[rollout]`` table (defaults for absent keys); problems get every bad key."""
    rule = section(CanaryRule, raw, "rollout", problems)
    problems.need("rollout.min_frames", rule.min_frames >= 1, "must be >= 1")
    for key in ("max_leave_increase", "max_agreement_drop"):
        problems.need(f"rollout.{key}", 0.0 <= getattr(rule, key) <= 1.0, "must be in 0..1")
    return rule


@dataclass(frozen=True)
class GroupStats:
    frames: int = 0
    left: int = 0
    compared: int = 0
    agreed: int = 0

    @property
    def leave_share(self) -> float:
        return self.left / self.frames if self.frames else 0.0

    @property
    def agreement(self) -> float:
        return self.agreed / self.compared if self.compared else 1.0


@dataclass(frozen=True)
class Tally:
    canary: GroupStats = GroupStats()
    rest: GroupStats = GroupStats()


def count(tally: Tally, *, device_id: str, canaries: Collection[str], left_device: bool,
          device_label: int | None = None, final_label: int | None = None) -> Tally:
    """One answered frame: ``left_device`` when it was escalated; ``final_label`` the
    edge/cloud answer to compare the device's ``device_label`` with (None: not compared)."""
    group = "canary" if device_id in canaries else "rest"
    g: GroupStats = getattr(tally, group)
    compared = final_label is not None and device_label is not None
    g = GroupStats(g.frames + 1, g.left + int(left_device), g.compared + int(compared),
                   g.agreed + int(compared and device_label == final_label))
    return replace(tally, **{group: g})


class Verdict(str, enum.Enum):
    WAIT = "wait"
    PROMOTE = "promote"
    ROLL_BACK = "roll_back"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    why: str


def judge(rule: CanaryRule, tally: Tally) -> Judgement:
    c, r = tally.canary, tally.rest
    if c.frames < rule.min_frames or r.frames < rule.min_frames:
        return Judgement(Verdict.WAIT, f"{c.frames} canary / {r.frames} other frames, "
                                       f"need {rule.min_frames} each")
    leave = c.leave_share - r.leave_share
    if leave > rule.max_leave_increase:
        return Judgement(Verdict.ROLL_BACK, f"canaries leave the device {leave:+.3f} more "
                                            f"(limit {rule.max_leave_increase})")
    drop = r.agreement - c.agreement
    if drop > rule.max_agreement_drop:
        return Judgement(Verdict.ROLL_BACK, f"canary agreement with edge/cloud {drop:.3f} "
                                            f"lower (limit {rule.max_agreement_drop})")
    return Judgement(Verdict.PROMOTE, f"leave share {leave:+.3f}, agreement {-drop:+.3f}")


@dataclass(frozen=True)
class Rollout:
    """The newest manifest, the one before it, and the tally while a canary is out."""

    current: ModelManifest | None = None
    previous: ModelManifest | None = None
    tally: Tally = Tally()
    last: Judgement | None = None

    @property
    def canary_out(self) -> bool:
        return self.current is not None and bool(self.current.devices)


def on_manifest(r: Rollout, m: ModelManifest) -> Rollout:
    if r.current is not None and (r.current.model_id, r.current.version) == (m.model_id,
                                                                             m.version):
        return replace(r, current=m)  # the same version re-announced (e.g. promoted)
    return Rollout(current=m, previous=r.current, tally=Tally())


def on_result(r: Rollout, rule: CanaryRule, report: Report, result: Result
              ) -> tuple[Rollout, ModelManifest | None]:
    """Count one first final result; the manifest to publish when the rule decides."""
    if not r.canary_out or r.current is None or report.model_id != r.current.model_id:
        return r, None
    m = r.current
    canaries = set(m.devices)
    if report.device_id in canaries and report.model_version != m.version:
        return r, None  # a canary still on the old model: neither group
    escalated = result.tier != "device"
    tally = count(r.tally, device_id=report.device_id, canaries=canaries, left_device=escalated,
                  device_label=report.top1,
                  final_label=result.label if result.tier in ("edge", "cloud") else None)
    j = judge(rule, tally)
    r = replace(r, tally=tally, last=j)
    if j.verdict is Verdict.PROMOTE:
        return replace(r, current=replace(m, devices=())), replace(m, devices=())
    if j.verdict is Verdict.ROLL_BACK and r.previous is not None:
        back = r.previous
        return Rollout(current=back, previous=m, last=j), back
    return r, None


#: Reports remembered while their answer is pending (oldest forgotten first).
MAX_PENDING_REPORTS = 100_000


class RolloutTracker:
    """The shell's handle: remembers each report's device answer until its first final
    result is published, so the two hooks need only what they have at hand
    (:meth:`on_report` where reports arrive, :meth:`on_result` where results go out).
    Not thread-safe: call it under the gateway's lock."""

    def __init__(self, rule: CanaryRule) -> None:
        self.rule = rule
        self.state = Rollout()
        self._reports: dict[tuple[str, int, int], Report] = {}

    def on_manifest(self, m: ModelManifest) -> None:
        self.state = on_manifest(self.state, m)

    def on_report(self, report: Report) -> None:
        if not self.state.canary_out:
            return
        if len(self._reports) >= MAX_PENDING_REPORTS:
            self._reports.pop(next(iter(self._reports)))
        self._reports[report.key] = report

    def on_result(self, result: Result) -> ModelManifest | None:
        """The manifest to publish (retained) when the rule decides; None otherwise."""
        report = self._reports.pop(result.key, None) if result.revision == 0 else None
        if report is None:
            return None
        self.state, out = on_result(self.state, self.rule, report, result)
        if out is not None:
            self._reports.clear()
        return out
