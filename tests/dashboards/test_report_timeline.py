"""The demo report's timeline, images and page (pure functions, synthetic inputs)."""

from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest

from edgecascade.protocol import Result
from edgecascade.tools.demo.plot import render_html
from edgecascade.tools.demo.report import SeenResult, SentFrame, render_text, summarize
from edgecascade.tools.demo.timeline import (
    Sample,
    image_tag,
    png_gray,
    sample_pixels,
    timeline_svg,
)


def result(seq: int, tier: str, latency: float = 1.0) -> Result:
    return Result("d1", 1, seq, seq % 10, 0.9, tier, "m", 1, latency, 0.0, "confident", 0,
                  "gw", 0)


REPORTS = {("d1", 1, i): 100.0 + i * 0.5 for i in range(20)}
SEEN = [SeenResult(result(i, "device" if i % 4 else "edge"), 100.0 + i * 0.5 + 0.002)
        for i in range(20)]
SAMPLES = [Sample(100.0 + t, spool_depth=float(t in (4, 5, 6)), circuit_state=2.0 * (4 <= t < 7))
           for t in range(11)]


def test_timeline_has_four_panels_and_shades_the_outage_in_each() -> None:
    svg = timeline_svg(SEEN, REPORTS, SAMPLES, outage=(104.0, 107.0))
    for title in ("answers per second", "latency p50", "spool depth", "cloud circuit"):
        assert title in svg
    shades = re.findall(r'<rect x="([\d.]+)"[^>]*fill="#fa5252"', svg)
    assert len(shades) == 4 and len(set(shades)) == 1  # same window, every panel
    assert ">device<" in svg and ">edge<" in svg and ">open<" in svg and ">half_open<" in svg
    assert "<rect" not in timeline_svg(SEEN, REPORTS, SAMPLES, outage=None)


def test_png_is_a_valid_grayscale_image_of_the_frame() -> None:
    pixels = bytes(i % 256 for i in range(28 * 28))
    png = png_gray(pixels, 28, 28, scale=2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert (width, height, depth, colour) == (56, 56, 8, 0)
    idat = png.index(b"IDAT")
    size = struct.unpack(">I", png[idat - 4:idat])[0]
    raw = zlib.decompress(png[idat + 4: idat + 4 + size])
    assert len(raw) == 56 * (56 + 1)
    assert raw[1:57:2] == pixels[:28]  # first row, each pixel twice
    image = np.frombuffer(pixels, np.uint8).reshape(28, 28)
    assert image_tag(image, "d1/3: truth 2").startswith("<figure><img alt=")
    # any workload's sample: a (4, 16) int8 series is 16 x 4 pixels, shifted to 0..255
    series = np.full((4, 16), -128, np.int8)
    series[1, 3] = 127
    got, width, height = sample_pixels(series)
    assert (width, height) == (16, 4) and got[16 + 3] == 255 and got[0] == 0
    assert image_tag(series, "d1/4: truth slow").startswith("<figure><img alt=")
    with pytest.raises(ValueError):
        png_gray(pixels[:100], 28, 28)


def test_page_has_parameters_timeline_reasons_and_images() -> None:
    sent = [SentFrame("d1", 1, i, i % 10, REPORTS[("d1", 1, i)]) for i in range(20)]
    report = summarize(sent, SEEN, cloud_cost_per_frame_alone=2.0)
    page = render_html(report, render_text(report), {"device": [1.0, 2.0]}, [(0.1, 0.9)],
                       None, timeline=timeline_svg(SEEN, REPORTS, SAMPLES, (104.0, 107.0)),
                       params=[("edgecascade version", "9.9.9"), ("outage", "3 s mid-run")],
                       reasons=[("low_confidence", 5)],
                       misclassified=[image_tag(np.zeros((28, 28), np.uint8),
                                                "d1/1: truth 1, edge said 7")])
    for needle in ("9.9.9", "3 s mid-run", "cloud outage", "low_confidence", "truth 1",
                   "data:image/png;base64,"):
        assert needle in page, needle
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # opens offline
