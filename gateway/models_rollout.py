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
Pure: the tally is a frozen value updated by :func:`count`.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from edgecascade.config import Problems, section


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
