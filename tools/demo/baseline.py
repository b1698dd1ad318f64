"""The figures the demo's wire results are compared against: the offline cascade on the
same test split (its answer per frame, the cloud-share/accuracy sweep, the calibrated
operating point) and what sending each frame alone to the cloud would cost."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from edgecascade.protocol import (
    CloudAnswer,
    CloudItem,
    CloudRequest,
    CloudResponse,
    billed_messages,
    encode,
)


def cloud_only_cost_per_frame(sample_frame: Any) -> float:
    """Billed messages to send one frame alone to the cloud and get its answer back."""
    request = CloudRequest("c-000000000000", "gw", 0, 1500,
                           (CloudItem("d-0000", 0, 0, frame=sample_frame),))
    response = CloudResponse("c-000000000000", "ok", "w", "mnist-cloud", 1, 1.0, 0,
                             (CloudAnswer("d-0000", 0, 0, label=0, confidence=1.0),))
    return float(billed_messages(len(encode(request))) + billed_messages(len(encode(response))))


@dataclass(frozen=True)
class Offline:
    """The offline cascade on the workload's test split, to compare the wire against."""

    labels: list[int]  # the cascade's answer per test-split index
    sweep: list[tuple[float, float]]  # (cloud share, accuracy) as edge_conf sweeps
    chosen: tuple[float, float]  # the calibrated operating point


def offline_cascade(workload: Any = "mnist") -> Offline:
    import numpy as np

    from edgecascade.models.cascade import Thresholds, load_settings, run_cascade
    from edgecascade.models.workload import get_workload
    from edgecascade.tools.models.outputs import collect, workload_outputs

    wl = get_workload(workload)
    settings = load_settings(wl.thresholds_path)
    out = (collect("test") if wl.name == "mnist" else workload_outputs(
        "test", wl.load_split("test"), wl.model_path("mcu"), wl.model_path("edge"),
        wl.model_path("cloud"), settings.mean_input)[0])
    edge_cal = settings.edge_calibrated(out.probs["edge"])

    def point(th: Thresholds) -> tuple[tuple[float, float], np.ndarray]:
        outcome = run_cascade(out.probs["mcu"], out.complexity, edge_cal, out.probs["cloud"], th)
        return (outcome.cloud_share, outcome.accuracy(out.labels)), outcome.pred

    chosen, pred = point(settings.thresholds)
    sweep = [point(replace(settings.thresholds, edge_confidence=float(c)))[0]
             for c in np.linspace(0.0, 1.0, 41)]
    return Offline([int(p) for p in pred], sweep, chosen)
