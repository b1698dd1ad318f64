"""Offline check of the live-accuracy estimate and the drift alarms over the demo's data path.

``python -m edgecascade.tools.demo.monitor_check`` replays what ``edgecascade demo``
replays, without brokers: the demo's devices (ids, the emulator's frame walk, the
gateway-assigned epochs varied by seed) report the workload's test split at the demo's
rate; each report is decided as the running cascade decides it (device thresholds,
audit sampling by :func:`edgecascade.protocol.audit.audit_pick`, the edge stage with
fusion, the cloud), on tier outputs computed once by the real interpreters
(tflite-micro for the device tier, LiteRT for the others). The answers and audits feed
the gateway's pure :class:`~edgecascade.gateway.accuracy.LiveAccuracy` and
:class:`~edgecascade.gateway.drift.DriftMonitor`, exactly the objects the gateway runs.

It measures (1) how often the site estimate's interval covers the true accuracy over
seeds, at the given audit share; (2) the reports from a drift until the alarm fires;
(3) false alarms in a drift-free run of a given length (the 10-minute demo).
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

FRAME_STRIDE = 7919  # the emulator's (firmware/emulator/core.py)
DEVICE_PREFIX = "demo"  # the demo's device ids: demo-0000, demo-0001, ... (runner.py)


@dataclass(frozen=True)
class Tiers:
    """Per frame of a split: what each stage of the running cascade would answer."""

    labels: np.ndarray
    accepted: np.ndarray  # the device keeps its answer
    device: np.ndarray
    device_conf: np.ndarray  # calibrated (temperature-scaled wire view) top-1
    wire_top1: np.ndarray  # the report's confidence
    complexity: np.ndarray
    edge: np.ndarray  # edge-stage answer (fused where calibration chose it)
    edge_conf: np.ndarray
    edge_accepts: np.ndarray
    cloud: np.ndarray
    cloud_conf: np.ndarray


def tier_outputs(workload: Any, dataset: Any = None) -> Tiers:
    """The cascade's stages over a split (the test split, or ``dataset``)."""
    from edgecascade.models.calibration import apply_temperature
    from edgecascade.models.cascade import load_settings
    from edgecascade.models.fusion import fuse_cloud, wire_probs
    from edgecascade.models.workload import get_workload
    from edgecascade.tools.models.outputs import split_outputs, workload_outputs

    wl = get_workload(workload)
    s = load_settings(wl.thresholds_path)
    if dataset is None:
        out = split_outputs(wl, "test", s)
    else:
        out = workload_outputs("test", dataset, wl.model_path("mcu"), wl.model_path("edge"),
                               wl.model_path("cloud"), s.mean_input)[0]
        if s.mean_input is None and s.mean_image is not None:  # MNIST: raw-pixel complexity
            from edgecascade.models.stats import complexity_batch

            out = type(out)(out.split, out.labels, complexity_batch(dataset.images,
                                                                    s.mean_image), out.probs)
    wire = wire_probs(out.probs["mcu"], s.fusion.k)
    edge_stage = s.edge_stage(wire, out.probs["edge"])
    cloud_cal = apply_temperature(out.probs["cloud"], s.temperatures.get("cloud", 1.0))
    cloud_stage = fuse_cloud(wire, s.edge_calibrated(out.probs["edge"]), cloud_cal, s.fusion)
    return Tiers(out.labels, s.device_accepts(out.probs["mcu"], out.complexity),
                 out.probs["mcu"].argmax(1), s.device_calibrated(wire).max(1), wire.max(1),
                 out.complexity, edge_stage.argmax(1), edge_stage.max(1),
                 edge_stage.max(1) >= s.thresholds.edge_confidence, cloud_stage.argmax(1),
                 cloud_stage.max(1))


def frame_index(device_id: str, seq: int, n: int) -> int:
    """The emulator's walk over an ungrouped split (FrameSource.frame_index)."""
    return (zlib.crc32(device_id.encode()) % n + seq * FRAME_STRIDE) % n


@dataclass(frozen=True)
class RunResult:
    seed: int
    devices: int
    reports: int
    audits: int
    true_accuracy: float
    estimate: dict[str, Any]
    covered: bool
    alarms: list[dict[str, Any]]
    first_alarm_after_drift: dict[str, int]  # scope -> reports of that scope after drift


def simulate(base: Tiers, mon: Mapping[str, Any], *, devices: int, rate: float,
             duration: float, audit_share: float, seed: int, drifted: Tiers | None = None,
             drift_at: float | None = None, drift_share: float = 0.3) -> RunResult:
    """One demo-like run; ``mon``: the thresholds file's ``monitoring`` table."""
    from edgecascade.gateway.accuracy import AccuracyConfig, LiveAccuracy
    from edgecascade.gateway.drift import SITE, DriftMonitor, Monitoring
    from edgecascade.protocol.audit import audit_pick, share_to_wire

    acc = LiveAccuracy(AccuracyConfig(systematic=mon.get("calibration_error", {})))
    drift = DriftMonitor(Monitoring.from_json(mon))
    rng = np.random.default_rng(seed)
    ids = [f"{DEVICE_PREFIX}-{i:04d}" for i in range(devices)]  # as the demo names them
    epochs = {d: int(rng.integers(1_700_000_000, 1_800_000_000)) for d in ids}
    share = share_to_wire(audit_share)
    n = len(base.labels)
    steps = max(1, round(rate * duration))
    drift_step = None if drift_at is None else round(rate * drift_at)
    drifting = set(sorted(ids)[:max(1, int(np.ceil(drift_share * devices)))])
    correct = total = audits = 0
    cache: dict[int, tuple[int, float]] = {}  # frame -> the edge's or cloud's answer
    alarms: list[dict[str, Any]] = []
    after: dict[str, int] = {}
    seen_after: dict[str, int] = {}
    for seq in range(steps):
        for d in ids:
            t = base
            late = drift_step is not None and seq >= drift_step
            if late and drifted is not None and d in drifting:
                t = drifted
            i = frame_index(d, seq, n)
            total += 1
            if t.accepted[i]:
                answer, tier, conf = t.device[i], "device", t.device_conf[i]
                if audit_pick(d, epochs[d], seq, share):
                    audits += 1
                    acc.audited(d, 1, "device~edge", bool(t.device[i] == t.edge[i]))
                    view = acc.device(d).agreement.get("device~edge")
                    if view is not None:
                        k = round(view.estimate * view.n)
                        for ch in drift.agreement(d, "device~edge", k, view.n, view.hi):
                            alarms.append(_alarm(ch, seq, late))
                    site = acc.site().agreement.get("device~edge")
                    if site is not None:
                        k = round(site.estimate * site.n)
                        for ch in drift.agreement(SITE, "device~edge", k, site.n, site.hi):
                            alarms.append(_alarm(ch, seq, late))
            elif (t is base and i in cache):  # the gateway's content cache: same frame
                answer, tier, conf = cache[i][0], "cache", cache[i][1]
            elif t.edge_accepts[i]:
                answer, tier, conf = t.edge[i], "edge", t.edge_conf[i]
            else:
                answer, tier, conf = t.cloud[i], "cloud", t.cloud_conf[i]
            if tier in ("edge", "cloud") and t is base:
                cache[i] = (answer, conf)
            correct += int(answer == t.labels[i])
            acc.answered(d, 1, tier, float(conf))
            for ch in drift.observe(d, float(t.wire_top1[i]), float(t.complexity[i])):
                alarms.append(_alarm(ch, seq, late))
            if late:
                for scope in (d, "site"):
                    seen_after[scope] = seen_after.get(scope, 0) + 1
        for a in alarms:
            scope = a["scope"]
            if a["firing"] and a["after_drift"] and scope not in after:
                after[scope] = seen_after.get(scope, 0)
    truth = correct / total
    est = acc.site().estimate
    return RunResult(seed, devices, total, audits, truth, est.to_json(), est.covers(truth), alarms,
                     after)


def _alarm(ch: Any, seq: int, late: bool) -> dict[str, Any]:
    from edgecascade.gateway.drift import SITE

    return {"scope": "site" if ch.scope == SITE else ch.scope, "kind": ch.kind,
            "firing": ch.firing, "value": round(ch.value, 4), "seq": seq, "after_drift": late}


def monitoring(workload: Any) -> dict[str, Any]:
    """A workload's ``monitoring`` table (thresholds file)."""
    from edgecascade.models.workload import get_workload

    doc = json.loads(get_workload(workload).thresholds_path.read_text())
    return dict(doc.get("monitoring", {}))


def main(argv: list[str] | None = None) -> int:
    from edgecascade.models.workload import get_workload

    p = argparse.ArgumentParser(prog="python -m edgecascade.tools.demo.monitor_check",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="mnist")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--devices", type=int, default=10,
                   help="devices per run; with --vary-devices the first run's count")
    p.add_argument("--vary-devices", action="store_true",
                   help="run s uses 5 + (devices + 7 s) mod 16 devices (5..20)")
    p.add_argument("--rate", type=float, default=5.0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--audit-share", type=float, default=0.01)
    p.add_argument("--drift-at", type=float, default=None)
    p.add_argument("--drift-kind", default="rotate")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from .drift import drifted_dataset

    wl = get_workload(args.workload)
    mon = monitoring(wl)
    base = tier_outputs(wl)
    drifted = (tier_outputs(wl, drifted_dataset(wl.load_split("test"), args.drift_kind))
               if args.drift_at is not None else None)
    def count(s: int) -> int:
        return 5 + (args.devices + 7 * s) % 16 if args.vary_devices else args.devices

    results = [simulate(base, mon, devices=count(s), rate=args.rate, duration=args.duration,
                        audit_share=args.audit_share, seed=s, drifted=drifted,
                        drift_at=args.drift_at) for s in range(args.seeds)]
    for r in results:
        fired = [a for a in r.alarms if a["firing"]]
        false = [a for a in fired if not a["after_drift"]]
        print(f"seed {r.seed}: {r.devices} devices, {r.reports} reports, {r.audits} audits "
              f"({r.audits / r.reports:.2%}), true {r.true_accuracy:.4f}, estimate "
              f"{r.estimate['estimate']:.4f} [{r.estimate['lo']:.4f}, {r.estimate['hi']:.4f}] "
              f"{'covers' if r.covered else 'MISSES'}; alarms fired {len(fired)} "
              f"(before drift {len(false)}); first after drift: {r.first_alarm_after_drift}")
    covered = sum(r.covered for r in results)
    false_total = sum(1 for r in results for a in r.alarms if a["firing"] and not a["after_drift"])
    print(f"covered {covered}/{len(results)}; false alarms {false_total} in "
          f"{len(results)} runs of {args.duration:g} s ({sum(r.reports for r in results)} "
          f"reports) at {args.rate:g}/s per device")
    if args.json:
        print(json.dumps([r.__dict__ for r in results], default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
