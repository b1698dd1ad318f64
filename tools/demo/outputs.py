"""The demo's files: report.json, report.html (one page that opens offline) and the
optional per-frame dump."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgecascade.tools.demo.report import DemoReport, SeenResult
from edgecascade.tools.demo.timeline import Sample, image_tag, timeline_svg

Key = tuple[str, int, int]
MAX_MISCLASSIFIED = 48


def run_parameters(opts: Any, site_kind: str, cloud_kind: str,
                   workload: Any = None) -> list[tuple[str, str]]:
    from edgecascade import __version__

    wl = [] if workload is None else [
        ("workload", f"{workload.name} ({workload.root})"),
        ("classes", ", ".join(workload.entry("mcu").labels)),
    ]
    return [
        ("edgecascade version", __version__),
        *wl,
        ("devices", str(opts.devices)),
        ("rate per device", f"{opts.rate:g} reports/s"),
        ("duration", f"{opts.duration:g} s ({opts.reports_per_device} reports per device)"),
        ("outage", f"{opts.outage:g} s mid-run" if opts.outage else "none"),
        ("WAN delay", f"{opts.wan_delay_ms:g} ms each way"),
        ("site broker", opts.broker or site_kind),
        ("cloud broker", opts.cloud_broker or cloud_kind),
        ("topic prefix", opts.prefix),
    ]


def finals(seen: Sequence[SeenResult]) -> dict[Key, SeenResult]:
    """Per frame, the result with the highest revision (what a dashboard keeps)."""
    out: dict[Key, SeenResult] = {}
    for s in sorted(seen, key=lambda s: s.received_at):
        if s.result.key not in out or s.result.revision >= out[s.result.key].result.revision:
            out[s.result.key] = s
    return out


def misclassified_tags(seen: Sequence[SeenResult], ledger: Any, split: Any) -> list[str]:
    """Thumbnails of the frames answered wrong, from the split the devices replayed
    (``split``: a Dataset; the ledger's index points into it), named with its classes."""
    wrong = [(key, s, t) for key, s in sorted(finals(seen).items())
             if (t := ledger.get(key)) is not None and t.label != s.result.label]
    names = split.label_names

    def name(label: int) -> str:
        return names[label] if 0 <= label < len(names) else str(label)

    return [image_tag(split.images[t.index % len(split)],
                      f"{key[0]}/{key[2]}: truth {name(t.label)}, {s.result.tier} said "
                      f"{name(s.result.label)}")
            for key, s, t in wrong[:MAX_MISCLASSIFIED]]


def write_outputs(report: DemoReport, text: str, reports: dict[Key, float],
                  seen: list[SeenResult], out: Path, offline: Any, *,
                  samples: Sequence[Sample] = (), outage: tuple[float, float] | None = None,
                  params: Sequence[tuple[str, str]] = (), ledger: Any = None,
                  split: Any = None) -> None:
    from edgecascade.tools.demo.plot import render_html

    first: dict[Key, SeenResult] = {}
    for s in sorted(seen, key=lambda s: s.received_at):
        first.setdefault(s.result.key, s)
    latencies: dict[str, list[float]] = {}
    for key, s in first.items():
        if key in reports:
            latencies.setdefault(s.result.tier, []).append((s.received_at - reports[key]) * 1000)
    reasons = Counter(s.result.escalation or "stayed on the device (confident)"
                      for s in first.values())
    (out / "report.json").write_text(report.to_json() + "\n")
    (out / "report.html").write_text(render_html(
        report, text, latencies, offline.sweep, offline.chosen,
        timeline=timeline_svg(seen, reports, samples, outage), params=params,
        reasons=reasons.most_common(),
        misclassified=(misclassified_tags(seen, ledger, split)
                       if ledger is not None and split is not None else [])))


def dump_frames(path: Path, reports: dict[Key, float], seen: list[SeenResult],
                ledger: Any) -> None:
    """One JSON line per frame: its ground truth and every result seen for it."""
    by_key: dict[Key, list[dict[str, Any]]] = {}
    for s in seen:
        by_key.setdefault(s.result.key, []).append(
            {**s.result.to_plain(), "received_at": s.received_at})
    with path.open("w") as fh:
        for key, at in reports.items():
            t = ledger.get(key)
            fh.write(json.dumps({"key": key, "reported_at": at,
                                 "label": t.label if t else None,
                                 "index": t.index if t else None,
                                 "results": by_key.get(key, [])}) + "\n")
