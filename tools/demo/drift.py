"""Drift injection for ``edgecascade demo --drift-at SECONDS`` (and the offline check).

After the drift point, some devices replay a changed version of the split: ``rotate``
(every sample turned by 90 degrees: a camera mounted the wrong way) or ``noise``
(Gaussian noise of ``sigma`` in the samples' own units, clipped: a dirty lens, a loose
sensor). :func:`drifted_dataset` builds the changed split (deterministic for a seed);
:func:`drift_devices` picks which devices drift; :class:`DriftPlan` is what the demo's
runner hooks in: at the drift time it swaps those devices' frame sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("rotate", "noise")


def drifted_dataset(ds: Any, kind: str = "rotate", seed: int = 0, sigma: float = 0.35) -> Any:
    """The split with every sample changed (same labels, groups, quantization)."""
    from edgecascade.models.dataset import Dataset

    x = np.asarray(ds.images)
    if kind == "rotate":
        if x.ndim < 3:  # a (N, L) vector: reversed, the 1-D turn
            y = x[:, ::-1].copy()
        else:
            y = np.rot90(x, k=1, axes=(1, 2)).copy()
            if y.shape != x.shape:  # not square: flip both axes instead
                y = x[:, ::-1, ::-1].copy()
    elif kind == "noise":
        rng = np.random.default_rng(seed)
        info = np.iinfo(x.dtype)
        span = float(info.max - info.min)
        noisy = x.astype(np.float64) + rng.normal(0.0, sigma * span / 2, x.shape)
        y = np.clip(np.round(noisy), info.min, info.max).astype(x.dtype)
    else:
        raise ValueError(f"unknown drift kind {kind!r}; expected one of {KINDS}")
    return Dataset(ds.name + f"-{kind}", y, ds.labels, ds.label_names, ds.scale,
                   ds.zero_point, ds.groups)


def drift_devices(device_ids: list[str], share: float) -> list[str]:
    """The first ``ceil(share * n)`` devices (at least one): deterministic."""
    n = max(1, int(np.ceil(share * len(device_ids))))
    return sorted(device_ids)[:n]


@dataclass(frozen=True)
class DriftPlan:
    """``--drift-at``: when (seconds into the run), what and which share of devices."""

    at_s: float
    kind: str = "rotate"
    share: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown drift kind {self.kind!r}; expected one of {KINDS}")
        if not (self.at_s >= 0 and 0 < self.share <= 1):
            raise ValueError("drift needs at_s >= 0 and 0 < share <= 1")

    def source_for(self, workload: Any) -> Any:
        """A frame source replaying the drifted split of ``workload`` (the emulator's)."""
        from edgecascade.emulator.model import FrameSource
        from edgecascade.models.workload import get_workload

        wl = get_workload(workload)
        return FrameSource(workload=wl, dataset=drifted_dataset(wl.load_split("test"),
                                                                self.kind, self.seed))

    def apply(self, devices: dict[str, Any], workload: Any) -> list[str]:
        """Swap the frame source of the drifting devices (``devices``: id -> an object
        with a ``core.source``); returns their ids."""
        source = self.source_for(workload)
        chosen = drift_devices(list(devices), self.share)
        for d in chosen:
            devices[d].core.source = source
        return chosen


def drift_plan(opts: Any) -> DriftPlan | None:
    """The demo options' drift (``drift_at`` None: none)."""
    if getattr(opts, "drift_at", None) is None:
        return None
    return DriftPlan(float(opts.drift_at), opts.drift_kind, opts.drift_share)


def apply_drift(plan: DriftPlan, fleet: Any, workload: Any, elapsed_s: float) -> Any:
    """Switch the plan's devices of a running emulator ``fleet``; what the report needs."""
    import time

    from .monitoring_report import DriftApplied

    at = int(time.time() * 1000)
    chosen = plan.apply({d.core.device_id: d for d in fleet.devices}, workload)
    return DriftApplied(at, round(elapsed_s, 2), plan.kind, tuple(chosen))
