"""The device's pure core: frame answer + thresholds -> Report bytes; config handling.

No sockets, no clocks: the shell passes the time in. The same steps as the C core:
top-k -> fixed-point confidences -> attach decision -> ``Report`` -> msgpack.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from edgecascade.protocol import DeviceConfig, Reason, Report, encode

from .model import FrameAnswer, FrameSource
from .policy import Thresholds, attach_reason, audit_reason

#: Frame index stride between a device's consecutive reports: prime and coprime with
#: the split size, so a device walks every frame and neighbours differ (the shipped
#: split is sorted by label).
FRAME_STRIDE = 7919


@dataclass(frozen=True)
class Made:
    """One report as made by the device, with what the emulator knows besides."""

    report: Report
    payload: bytes
    label: int
    index: int
    reason: Reason | None

    @property
    def attached(self) -> bool:
        return self.report.frame is not None


class ConfigOutcome(str, enum.Enum):
    APPLIED = "applied"
    APPLIED_NEW_EPOCH = "applied_new_epoch"
    STALE = "stale"


@dataclass
class DeviceCore:
    """One device's state: identity, session epoch, sequence and thresholds."""

    device_id: str
    source: FrameSource
    epoch: int
    thresholds: Thresholds
    seq: int = 0
    config_revision: int = 0  # last applied revision; 0 before any (as ec_session_t)
    audit_share: int = 0  # confident reports audited, in 1/65536 (DeviceConfig.audit_share)

    def frame_index(self, seq: int) -> int:
        return self.source.frame_index(self.device_id, seq, FRAME_STRIDE)

    def next_report(self, now_ms: int) -> Made:
        """Make the next report; the sequence number advances by one."""
        answer = self.source.answer(self.frame_index(self.seq))
        made = build_report(self.device_id, self.epoch, self.seq, now_ms, answer,
                            self.source.model_id, self.source.model_version, self.thresholds,
                            self.audit_share)
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return made

    def apply_config(self, config: DeviceConfig) -> ConfigOutcome:
        """Adopt a (decoded, hence in-range) config. An older revision is ignored.

        A new revision's epoch, when it differs from ours, starts a new session:
        the sequence restarts at 0.
        """
        if config.revision < self.config_revision:
            return ConfigOutcome.STALE
        newer = config.revision > self.config_revision
        self.thresholds = replace(self.thresholds, device_confidence=config.conf_threshold,
                                  device_margin=config.margin_threshold,
                                  complexity_limit=config.complexity_limit)
        self.audit_share = config.audit_share or 0
        self.config_revision = config.revision
        if newer and config.epoch is not None and config.epoch != self.epoch:
            self.epoch = config.epoch
            self.seq = 0
            return ConfigOutcome.APPLIED_NEW_EPOCH
        return ConfigOutcome.APPLIED


def build_report(
    device_id: str,
    epoch: int,
    seq: int,
    now_ms: int,
    answer: FrameAnswer,
    model_id: str,
    model_version: int,
    thresholds: Thresholds,
    audit_share: int = 0,
) -> Made:
    reason = audit_reason(attach_reason(answer.confidences, answer.complexity, thresholds),
                          device_id, epoch, seq, audit_share)
    report = Report(
        device_id=device_id,
        epoch=epoch,
        seq=seq,
        ts_ms=now_ms,
        model_id=model_id,
        model_version=model_version,
        classes=answer.classes,
        confidences=answer.confidences,
        frame=answer.frame if reason is not None else None,
        complexity=answer.complexity,
    )
    return Made(report, encode(report), answer.label, answer.index, reason)
