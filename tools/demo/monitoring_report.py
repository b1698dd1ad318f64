"""The demo report's monitoring section (issue 22): the gateway's label-free live accuracy
next to the true accuracy the demo knows, the audits and their cost, and when the drift
alarms fired relative to ``--drift-at``. Pure: it reads the gateway's monitoring state
(``FieldMonitor.state()``) captured at the end of the run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DriftApplied:
    at_ts_ms: int  # wall clock when the drifting devices switched
    at_s: float  # seconds into the run
    kind: str
    devices: tuple[str, ...]


def summarize(state: dict[str, Any] | None, true_accuracy: float, frames: int,
              drift: DriftApplied | None = None) -> dict[str, Any] | None:
    """What the report shows; None when the gateway gave no monitoring state."""
    if state is None:
        return None
    live = dict(state.get("live_accuracy") or {})
    est = dict(live.get("estimate") or {})
    audits = dict(state.get("audits") or {})
    done = int(audits.get("agree", 0)) + int(audits.get("disagree", 0))
    out: dict[str, Any] = {
        "live_accuracy": est,
        "true_accuracy": true_accuracy,
        "covered": (est.get("lo") is not None and est.get("hi") is not None
                    and est["lo"] <= true_accuracy <= est["hi"]),
        "audit_share_configured": state.get("audit_share"),
        "audits": audits,
        "audited_share_of_frames": done / frames if frames else 0.0,
        "agreement": dict(live.get("agreement") or {}).get("device~edge"),
        "alarms": [],
        "false_alarms": 0,
        # the estimate assumes the calibration split's distribution: not while drift fires
        "estimate_valid": not state.get("firing"),
    }
    fired = [a for a in state.get("alarms", []) if a.get("firing")]
    if drift is not None:
        out["drift"] = {"at_s": drift.at_s, "kind": drift.kind, "devices": list(drift.devices)}
        first: dict[str, float] = {}
        for a in fired:
            after = (a["ts_ms"] - drift.at_ts_ms) / 1000
            if after < 0:
                out["false_alarms"] += 1
                continue
            out["alarms"].append({**a, "seconds_after_drift": round(after, 2)})
            first.setdefault(a["scope"], round(after, 2))
        out["first_alarm_after_drift_s"] = first
        out["drifted_devices_alarmed"] = sorted(d for d in drift.devices if d in first)
        out["other_devices_alarmed"] = sorted(s for s in first
                                              if s not in drift.devices and s != "site")
    else:
        out["false_alarms"] = len(fired)
        out["alarms"] = fired
    return out


def render_lines(m: dict[str, Any] | None) -> list[str]:
    if m is None:
        return []
    est = m["live_accuracy"]
    lines = ["", "monitoring (label-free: audits and calibrated confidence, no ground truth)"]
    if est.get("estimate") is not None:
        lines.append(
            f"live accuracy      {est['estimate']:.2%} estimated [{est['lo']:.2%}, "
            f"{est['hi']:.2%}] over {est['n']} answers; true (first answers) "
            f"{m['true_accuracy']:.2%}: {'inside' if m['covered'] else 'OUTSIDE'} the interval")
        if not m.get("estimate_valid", True):
            lines.append("                   (drift alarms fire: confidence and agreement no "
                         "longer mean what they meant on the calibration split, so the "
                         "estimate is flagged invalid; the alarm is the signal)")
    else:
        lines.append("live accuracy      no estimate (no answers reached the monitor)")
    a = m["audits"]
    ag = m.get("agreement") or {}
    agree = (f", device~edge agreement {ag['estimate']:.1%} of {ag['n']}"
             if ag.get("n") else "")
    lines.append(
        f"audits             {a.get('agree', 0) + a.get('disagree', 0)} frames audited by the "
        f"edge model ({m['audited_share_of_frames']:.2%} of frames; configured share "
        f"{m['audit_share_configured']:.2%} of confident reports), {a.get('dropped', 0)} "
        f"dropped{agree}; cost: edge model runs only, 0 cloud messages")
    if "drift" in m:
        d = m["drift"]
        lines.append(f"drift injected     {d['kind']} at {d['at_s']:g} s on "
                     f"{len(d['devices'])} device(s): {', '.join(d['devices'])}")
        first = m["first_alarm_after_drift_s"]
        if first:
            lines.append("alarm fired        " + ", ".join(
                f"{s} {t:.1f} s after" for s, t in sorted(first.items(), key=lambda i: i[1])))
        else:
            lines.append("alarm fired        no alarm after the drift")
        if m["other_devices_alarmed"]:
            lines.append(f"                   (also on undrifted devices: "
                         f"{', '.join(m['other_devices_alarmed'])})")
    lines.append(f"false alarms       {m['false_alarms']} (alarms raised without drift"
                 f"{' before it began' if 'drift' in m else ''})")
    return lines
