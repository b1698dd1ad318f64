"""Codec benchmark: encode+decode time per report against stdlib json, and byte sizes.

    python -m edgecascade.tools.bench.codec [--quick]
"""

from __future__ import annotations

import dataclasses
import json
import sys

from edgecascade.protocol import Report, decode, encode
from edgecascade.tools.bench.common import Row, median_time, print_rows
from edgecascade.tools.vectors import cases

COMMAND = "python -m edgecascade.tools.bench.codec"


def _json_round_trip(report: Report) -> Report:
    def default(o: object) -> object:
        if isinstance(o, bytes):
            return o.hex()
        raise TypeError(type(o).__name__)

    text = json.dumps(dataclasses.asdict(report), default=default)
    raw = json.loads(text)
    return Report.from_plain({k: v for k, v in raw.items() if v is not None})


def run(quick: bool = False) -> list[Row]:
    repeats, inner = (3, 200) if quick else (7, 2000)
    rows = []
    for name in ("report_top3_confident", "report_unsure_with_frame"):
        report = cases()[name]
        assert isinstance(report, Report)
        def ours_once(r: Report = report) -> Report:
            return decode(Report, encode(r))

        def json_once(r: Report = report) -> Report:
            return _json_round_trip(r)

        ours = median_time(ours_once, repeats, inner)
        base = median_time(json_once, repeats, inner)
        rows.append(
            Row(f"codec {name}: encode+decode time, msgpack vs json", ours * 1e6, base * 1e6,
                "us", COMMAND, "< 1")
        )
        size = len(encode(report))
        json_size = len(json.dumps(report.to_plain()).encode())
        target = "<= 64 bytes" if report.frame is None else ""
        rows.append(Row(f"codec {name}: payload bytes, msgpack vs json", size, json_size,
                        "bytes", COMMAND, target))
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
