"""``edgecascade models calibrate --from-audit STATE_DIR``: thresholds from the field.

A gateway with ``[monitoring] audit_share > 0`` keeps the frames of a uniform random
share of its reports (``<state_dir>/audit_frames.sqlite``, :mod:`edgecascade.gateway.
audit_store`): the device's confident answers it audited and the unsure frames alike,
each with what the device reported. This refits the cascade on them: the device's view
is its report (top-k and complexity, exactly what the gateway decides on), the edge and
cloud models run on the frames, and **the cloud model's answers are the labels** (no
human labels in the field). It prints the expected accuracy (agreement with the cloud)
and the cloud share under the thresholds in force and under the proposed ones, and
writes a thresholds file the per-version deployment can roll out
(``edgecascade models deploy ... --thresholds FILE``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.models.calibration import apply_temperature, fit_temperature
from edgecascade.models.cascade import CascadeSettings, load_settings, run_cascade
from edgecascade.models.errors import ModelError

from .outputs import TierOutputs
from .search import Objective

#: Fewer audited frames than this say too little to move thresholds.
MIN_FRAMES = 50


class FromAuditError(ModelError):
    """The audit sample cannot be used (missing, empty, too small, other models)."""


@dataclass(frozen=True)
class Point:
    accuracy: float  # agreement with the cloud model's answers
    cloud_share: float
    leave_device_share: float

    def to_json(self) -> dict[str, float]:
        return {"expected_accuracy": round(self.accuracy, 5),
                "cloud_share": round(self.cloud_share, 5),
                "leave_device_share": round(self.leave_device_share, 5)}


def audit_outputs(state_dir: Path, workload: Any) -> tuple[TierOutputs, dict[str, Any]]:
    """The audit sample as tier outputs (labels: the cloud model's answers)."""
    from edgecascade.gateway.audit_store import FILE, AuditStore
    from edgecascade.models.fusion import report_probs
    from edgecascade.models.runtime import ModelRunner
    from edgecascade.models.tensors import frame_to_real
    from edgecascade.models.workload import get_workload

    path = Path(state_dir) / FILE
    if not path.is_file():
        raise FromAuditError(path, "no audit sample here (is [monitoring] audit_share > 0 "
                                   "on this gateway, and is this its state_dir?)")
    wl = get_workload(workload)
    store = AuditStore(path)
    try:
        frames = list(store.frames())
    finally:
        store.close()
    mcu = wl.entry("mcu")
    frames = [f for f in frames if f.report.model_id == mcu.id]
    if len(frames) < MIN_FRAMES:
        raise FromAuditError(path, f"{len(frames)} audited frames of {mcu.id}: need at least "
                                   f"{MIN_FRAMES}")
    n_classes = len(mcu.labels) or 1 + max(max(f.report.classes) for f in frames)
    runners = {t: ModelRunner(wl.model_path(t)) for t in ("edge", "cloud")}
    probs: dict[str, np.ndarray] = {
        "mcu": np.concatenate([report_probs(f.report.classes, f.report.confidences, n_classes)
                               for f in frames]).astype(np.float32)}
    try:
        for tier, r in runners.items():
            real = np.stack([frame_to_real(f.report.frame, r.input_spec) for f in frames
                             if f.report.frame is not None])
            probs[tier] = r.predict_real(real)
    except ModelError as exc:
        raise FromAuditError(path, f"audited frames do not fit the models: {exc.problem}") \
            from None
    labels = probs["cloud"].argmax(1)
    cx = np.array([f.report.complexity if f.report.complexity is not None else 0.0
                   for f in frames], dtype=np.float32)
    shares = sorted({f.share for f in frames})
    info = {"state_dir": str(state_dir), "frames": len(frames), "audit_shares": shares,
            "devices": len({f.report.device_id for f in frames}),
            "model_versions": sorted({f.report.model_version for f in frames})}
    return TierOutputs("audit", labels, cx, probs), info


def point(out: TierOutputs, settings_like: CascadeSettings | Any) -> Point:
    s = settings_like
    o = run_cascade(out.probs["mcu"], out.complexity,
                    apply_temperature(out.probs["edge"], s.temperatures["edge"]),
                    out.probs["cloud"], s.thresholds, s.fusion, s.temperatures.get("cloud", 1.0))
    return Point(o.accuracy(out.labels), o.cloud_share, o.leave_device_share)


def calibrate_from_audit(state_dir: str | Path, objective: Objective, *,
                         workload: Any = "mnist", out: Path | None = None,
                         log: Callable[[str], None] = print) -> dict[str, Any]:
    from dataclasses import replace

    from edgecascade.models.cascade import parse_settings
    from edgecascade.models.workload import get_workload

    from .calibrate import fit_operating_point, fusion_doc, monitoring_doc

    wl = get_workload(workload)
    settings = load_settings(wl.thresholds_path)
    outs, info = audit_outputs(Path(state_dir), wl)
    temps = dict(settings.temperatures)
    # the cloud's answers are the labels: its own temperature cannot be fitted on them
    temps["mcu"] = round(fit_temperature(outs.probs["mcu"], outs.labels), 4)
    temps["edge"] = round(fit_temperature(outs.probs["edge"], outs.labels), 4)
    fit = fit_operating_point(outs, temps, objective)
    before = point(outs, settings)
    doc = json.loads(wl.thresholds_path.read_text())
    doc.update({
        "generated_by": "edgecascade models calibrate --from-audit (do not edit)",
        "thresholds": fit.point.thresholds.as_file(), "temperatures": temps,
        "objective": objective.to_json(), "fusion": fusion_doc(fit),
        "monitoring": monitoring_doc(outs, temps, fit, settings.complexity_kind != "off"),
    })
    after_settings = replace(parse_settings(doc, wl.thresholds_path))
    after = point(outs, after_settings)
    doc["from_audit"] = {**info, "labels": "the cloud model's answers",
                         "before": before.to_json(), "after": after.to_json()}
    path = out or Path(state_dir) / "thresholds-from-audit.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    log(format_from_audit(doc))
    log(f"wrote {path} (roll it out with `edgecascade models deploy ... --thresholds "
        f"{path}`)")
    return doc


def format_from_audit(doc: dict[str, Any]) -> str:
    a = doc["from_audit"]
    b, f = a["before"], a["after"]
    th = doc["thresholds"]
    return "\n".join([
        f"audit sample: {a['frames']} frames from {a['devices']} device(s), model versions "
        f"{a['model_versions']}, labels: {a['labels']}",
        f"{'':10s}{'expected acc':>13s}{'to cloud':>10s}{'leave device':>14s}",
        f"{'before':10s}{b['expected_accuracy']:13.4f}{b['cloud_share']:10.3f}"
        f"{b['leave_device_share']:14.3f}",
        f"{'after':10s}{f['expected_accuracy']:13.4f}{f['cloud_share']:10.3f}"
        f"{f['leave_device_share']:14.3f}   (fitted on this sample: in-sample)",
        "proposed thresholds: " + ", ".join(f"{k}={v:.4g}" for k, v in th.items()),
    ])
