"""The demo report's timeline (inline SVG, pure): answers per second by tier, latency,
spool depth and circuit state on one time axis, the ``--outage`` window shaded.

Also the small inline images of misclassified frames (PNG written with zlib, no
imaging library), so the report stays one file that opens offline.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgecascade.gateway.breaker import STATE_VALUE
from edgecascade.tools.demo.report import SeenResult

W, PANEL_H, PAD, RPAD, TOP = 900, 120, 64, 110, 28
COLOURS = {"device": "#2b8a3e", "edge": "#1c7ed6", "cloud": "#e8590c", "cache": "#868e96"}


@dataclass(frozen=True)
class Sample:
    """The gateway's state at one moment (wall clock seconds)."""

    at: float
    spool_depth: float
    circuit_state: float  # ec_gateway_circuit_state: 0 closed, 1 half-open, 2 open


def _bins(start: float, end: float, width: float) -> int:
    return max(1, int((end - start) / width) + 1)


def timeline_svg(seen: Sequence[SeenResult], reports: dict[tuple[str, int, int], float],
                 samples: Sequence[Sample], outage: tuple[float, float] | None,
                 bin_s: float = 1.0) -> str:
    first: dict[tuple[str, int, int], SeenResult] = {}
    for s in sorted(seen, key=lambda s: s.received_at):
        first.setdefault(s.result.key, s)
    times = [s.received_at for s in first.values()] + [s.at for s in samples]
    if not times:
        return "<p>No results to draw.</p>"
    start = min(times + list(reports.values()))
    end = max(times)
    span = max(end - start, 1.0)
    n = _bins(start, end, bin_s)
    rate: dict[str, list[float]] = {}
    lat: list[list[float]] = [[] for _ in range(n)]
    for key, s in first.items():
        i = min(n - 1, int((s.received_at - start) / bin_s))
        rate.setdefault(s.result.tier, [0.0] * n)[i] += 1 / bin_s
        if key in reports:
            lat[i].append((s.received_at - reports[key]) * 1000)
    p50 = [sorted(v)[len(v) // 2] if v else None for v in lat]

    def sx(t: float) -> float:
        return PAD + (t - start) / span * (W - PAD - RPAD)

    panels: list[str] = []
    height = TOP + 4 * (PANEL_H + 24) + 30

    def panel(k: int, title: str, series: list[tuple[str, list[tuple[float, float]]]],
              ymax: float, fmt: str, step: bool = False, labels: dict[int, str] | None = None
              ) -> None:
        y0 = TOP + k * (PANEL_H + 24)
        ymax = max(ymax, 1e-9)

        def sy(v: float) -> float:
            return y0 + PANEL_H - v / ymax * PANEL_H

        out = [f'<text x="{PAD}" y="{y0 - 6}" font-weight="bold" font-size="13">'
               f"{html.escape(title)}</text>"]
        if outage is not None:
            x1, x2 = sx(outage[0]), sx(min(outage[1], end))
            out.append(f'<rect x="{x1:.1f}" y="{y0}" width="{max(x2 - x1, 1):.1f}" '
                       f'height="{PANEL_H}" fill="#fa5252" opacity="0.15"/>')
        out.append(f'<line x1="{PAD}" y1="{y0 + PANEL_H}" x2="{W - RPAD}" y2="{y0 + PANEL_H}" '
                   'stroke="black"/>')
        out.append(f'<line x1="{PAD}" y1="{y0}" x2="{PAD}" y2="{y0 + PANEL_H}" stroke="black"/>')
        ticks = labels or {0: fmt.format(0), 1: fmt.format(ymax)}
        for tick, label in ticks.items():
            at = tick if labels else tick * ymax
            out.append(f'<text x="{PAD - 6}" y="{sy(at) + 4:.1f}" text-anchor="end" '
                       f'font-size="11">{html.escape(label)}</text>')
        for j, (name, pts) in enumerate(series):
            if not pts:
                continue
            colour = COLOURS.get(name, "#343a40")
            coords = []
            for i, (t, v) in enumerate(pts):
                if step and i:
                    coords.append(f"{sx(t):.1f},{sy(pts[i - 1][1]):.1f}")
                coords.append(f"{sx(t):.1f},{sy(v):.1f}")
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" '
                       f'points="{" ".join(coords)}"/>')
            out.append(f'<text x="{W - RPAD + 8}" y="{y0 + 14 + 15 * j}" fill="{colour}" '
                       f'font-size="12">{html.escape(name)}</text>')
        panels.extend(out)

    centre = [start + (i + 0.5) * bin_s for i in range(n)]
    panel(0, "answers per second, by tier (first answers)",
          [(t, list(zip(centre, rate[t], strict=True))) for t in sorted(rate)],
          max((max(v) for v in rate.values()), default=1.0), "{:.0f}/s")
    lat_pts = [(c, v) for c, v in zip(centre, p50, strict=True) if v is not None]
    panel(1, "latency p50 (ms, device send to result)", [("p50", lat_pts)],
          max((v for _, v in lat_pts), default=1.0), "{:.0f} ms")
    panel(2, "spool depth (frames)", [("spool", [(s.at, s.spool_depth) for s in samples])],
          max((s.spool_depth for s in samples), default=1.0), "{:.0f}", step=True)
    panel(3, "cloud circuit", [("circuit", [(s.at, s.circuit_state) for s in samples])],
          2.0, "", step=True, labels={v: s.value for s, v in STATE_VALUE.items()})
    axis_y = TOP + 4 * (PANEL_H + 24) - 10
    for f in (0, 0.25, 0.5, 0.75, 1.0):
        panels.append(f'<text x="{sx(start + f * span):.1f}" y="{axis_y}" text-anchor="middle" '
                      f'font-size="11">{f * span:.0f} s</text>')
    if outage is not None:
        panels.append(f'<text x="{sx(outage[0]) + 4:.1f}" y="{TOP + 12}" fill="#c92a2a" '
                      'font-size="12">cloud outage</text>')
    return (f'<svg width="{W}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            + "".join(panels) + "</svg>")


def png_gray(pixels: bytes, width: int, height: int, scale: int = 2) -> bytes:
    """An 8-bit grayscale PNG of ``pixels`` (row-major), each pixel ``scale`` x ``scale``."""
    if len(pixels) != width * height:
        raise ValueError(f"{len(pixels)} pixels for a {width}x{height} image")
    rows = []
    for y in range(height):
        row = pixels[y * width:(y + 1) * width]
        wide = bytes(b for b in row for _ in range(scale))
        rows.extend([b"\x00" + wide] * scale)
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width * scale, height * scale, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def sample_pixels(sample: Any) -> tuple[bytes, int, int]:
    """Any workload's sample as 8-bit grayscale: an image (H, W[, C]: the first
    channel) as it is when uint8, a series (channels, steps) or vector as rows, int8
    values shifted to 0..255. Returns (pixels, width, height)."""
    import numpy as np

    x = np.asarray(sample)
    if x.ndim == 3:
        x = x[..., 0]
    x = x.reshape(1, -1) if x.ndim < 2 else x.reshape(x.shape[0], -1)
    if x.dtype == np.int8:
        x = x.astype(np.int16) + 128
    x = np.clip(x, 0, 255).astype(np.uint8)
    return x.tobytes(), int(x.shape[1]), int(x.shape[0])


def image_tag(sample: Any, title: str) -> str:
    pixels, width, height = sample_pixels(sample)
    scale = max(1, min(8, 56 // max(width, height, 1)))
    data = base64.b64encode(png_gray(pixels, width, height, scale * 2)).decode()
    return (f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(title)}</figcaption></figure>")
