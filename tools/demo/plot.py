"""A self-contained HTML page (inline SVG, no dependencies) for the demo report:
latency distribution per tier (CDF) and the accuracy / cloud-share trade-off."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from edgecascade.tools.demo.report import DemoReport

W, H, PAD, RPAD = 600, 320, 64, 30
COLOURS = {"device": "#2b8a3e", "edge": "#1c7ed6", "cloud": "#e8590c", "cache": "#868e96"}


def _axes(title: str, xlabel: str, ylabel: str, xticks: Sequence[tuple[float, str]],
          yticks: Sequence[tuple[float, str]]) -> list[str]:
    out = [
        f'<text x="{W / 2}" y="18" text-anchor="middle" font-weight="bold">'
        f"{html.escape(title)}</text>",
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - RPAD}" y2="{H - PAD}" stroke="black"/>',
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{PAD}" y2="24" stroke="black"/>',
        f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{html.escape(xlabel)}</text>',
        f'<text x="12" y="{H / 2}" transform="rotate(-90 12 {H / 2})" text-anchor="middle">'
        f"{html.escape(ylabel)}</text>",
    ]
    for x, label in xticks:
        out.append(f'<text x="{x}" y="{H - PAD + 16}" text-anchor="middle" font-size="11">'
                   f"{label}</text>")
    for y, label in yticks:
        out.append(f'<text x="{PAD - 6}" y="{y + 4}" text-anchor="end" font-size="11">'
                   f"{label}</text>")
    return out


def latency_cdf_svg(latencies: dict[str, list[float]]) -> str:
    """CDF of latency per tier on a log10 x axis (ms)."""
    values = [v for vs in latencies.values() for v in vs if v > 0]
    if not values:
        return "<p>No latencies recorded.</p>"
    lo = math.floor(math.log10(min(values)))
    hi = math.ceil(math.log10(max(values)))
    hi = max(hi, lo + 1)

    def sx(v: float) -> float:
        return PAD + (math.log10(max(v, 10**lo)) - lo) / (hi - lo) * (W - PAD - RPAD)

    def sy(p: float) -> float:
        return H - PAD - p * (H - PAD - 24)

    parts = _axes(
        "Latency per tier (device send to final result)", "latency (ms, log scale)",
        "share of frames",
        [(sx(10**e), f"{10**e:g}") for e in range(lo, hi + 1)],
        [(sy(p), f"{p:.0%}") for p in (0, 0.25, 0.5, 0.75, 1.0)],
    )
    # Legend top left: a CDF is there only if a tier is fast from its very first frames
    # (the legend used to sit bottom right, on the device curve).
    legend_y = 44
    for tier, vs in latencies.items():
        if not vs:
            continue
        ordered = sorted(vs)
        pts = " ".join(f"{sx(v):.1f},{sy((i + 1) / len(ordered)):.1f}"
                       for i, v in enumerate(ordered))
        colour = COLOURS.get(tier, "black")
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>')
        parts.append(f'<text x="{PAD + 10}" y="{legend_y}" fill="{colour}">{tier} '
                     f"({len(vs)})</text>")
        legend_y += 16
    return f'<svg width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">' + \
        "".join(parts) + "</svg>"


def tradeoff_svg(sweep: Sequence[tuple[float, float]], chosen: tuple[float, float] | None,
                 demo_point: tuple[float, float]) -> str:
    """Accuracy against cloud share: the offline threshold sweep and the demo's point."""
    points = list(sweep) + [demo_point] + ([chosen] if chosen else [])
    accs = [a for _, a in points]
    ymin = max(0.0, math.floor(min(accs) * 100 - 1) / 100)
    ymax = min(1.0, math.ceil(max(accs) * 100 + 0.5) / 100)
    xmax = max(0.05, max(s for s, _ in points) * 1.1)

    def sx(s: float) -> float:
        return PAD + s / xmax * (W - PAD - RPAD)

    def sy(a: float) -> float:
        return H - PAD - (a - ymin) / max(ymax - ymin, 1e-9) * (H - PAD - 24)

    parts = _axes(
        "Accuracy vs share of frames reaching the cloud", "cloud share", "accuracy",
        [(sx(xmax * f), f"{xmax * f:.0%}") for f in (0, 0.25, 0.5, 0.75, 1.0)],
        [(sy(ymin + (ymax - ymin) * f), f"{ymin + (ymax - ymin) * f:.1%}")
         for f in (0, 0.5, 1.0)],
    )
    if sweep:
        ordered = sorted(sweep)
        pts = " ".join(f"{sx(s):.1f},{sy(a):.1f}" for s, a in ordered)
        parts.append(f'<polyline fill="none" stroke="#1c7ed6" stroke-width="2" points="{pts}"/>')
        parts.append(f'<text x="{W - 170}" y="{H - PAD - 20}" fill="#1c7ed6">'
                     "offline threshold sweep</text>")
    if chosen:
        parts.append(f'<circle cx="{sx(chosen[0]):.1f}" cy="{sy(chosen[1]):.1f}" r="6" '
                     'fill="none" stroke="#1c7ed6" stroke-width="2"/>')
        parts.append(f'<text x="{sx(chosen[0]) + 9:.1f}" y="{sy(chosen[1]) + 16:.1f}" '
                     'fill="#1c7ed6">chosen thresholds (offline)</text>')
    parts.append(f'<circle cx="{sx(demo_point[0]):.1f}" cy="{sy(demo_point[1]):.1f}" r="5" '
                 'fill="#e8590c"/>')
    parts.append(f'<text x="{sx(demo_point[0]) + 8:.1f}" y="{sy(demo_point[1]) - 8:.1f}" '
                 'fill="#e8590c">this run</text>')
    return f'<svg width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">' + \
        "".join(parts) + "</svg>"


def _table(rows: Sequence[tuple[str, str]], head: tuple[str, str]) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                   for k, v in rows)
    return (f"<table><tr><th>{html.escape(head[0])}</th><th>{html.escape(head[1])}</th></tr>"
            f"{body}</table>")


def render_html(report: DemoReport, text: str, latencies: dict[str, list[float]],
                sweep: Sequence[tuple[float, float]], chosen: tuple[float, float] | None,
                *, timeline: str = "", params: Sequence[tuple[str, str]] = (),
                reasons: Sequence[tuple[str, int]] = (),
                misclassified: Sequence[str] = ()) -> str:
    """One page, offline: run parameters, timeline, text summary, escalation reasons,
    latency CDF, trade-off, and the misclassified frames as small inline images."""
    cloud = report.tiers.get("cloud")
    demo_point = (cloud.share if cloud else 0.0, report.accuracy)
    mis = ("".join(misclassified) if misclassified
           else "<p>No misclassified frames.</p>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>edgecascade demo</title>"
        "<style>body{font-family:sans-serif;margin:2em}pre{background:#f1f3f5;padding:1em}"
        "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #dee2e6;"
        "padding:.2em .6em;text-align:left}.grid{display:flex;flex-wrap:wrap;gap:6px}"
        "figure{margin:0;text-align:center;font-size:11px}section{margin-bottom:1.5em}"
        "</style></head><body><h1>edgecascade demo</h1>"
        f"<section><h2>Run</h2>{_table(params, ('parameter', 'value'))}</section>"
        f"<section><h2>Timeline</h2>{timeline}</section>"
        f"<section><h2>Summary</h2><pre>{html.escape(text)}</pre></section>"
        "<section><h2>Why frames left the device</h2>"
        f"{_table([(r, str(n)) for r, n in reasons], ('escalation reason', 'frames'))}"
        "</section>"
        f"<section><h2>Latency and trade-off</h2>{latency_cdf_svg(latencies)}<br>"
        f"{tradeoff_svg(sweep, chosen, demo_point)}</section>"
        f"<section><h2>Misclassified frames</h2><div class='grid'>{mis}</div></section>"
        "</body></html>\n"
    )
