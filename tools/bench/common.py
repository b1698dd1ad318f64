"""Shared benchmark helpers: rows, medians, timing, printing."""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    """One figure: ``value`` against ``baseline`` measured in the same run."""

    name: str
    value: float
    baseline: float
    unit: str
    command: str
    target: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def median_time(fn: Callable[[], object], repeats: int, inner: int) -> float:
    """Median over ``repeats`` of the time per call of ``fn`` run ``inner`` times (seconds)."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def over_quota(stamps: list[float], quota: int, window: float = 1.0) -> tuple[int, int]:
    """(most events in any ``window`` seconds, windows starting at an event holding more
    than ``quota``): the quota as a receiver counts it from its arrival times."""
    ordered = sorted(stamps)
    most, over, j = 0, 0, 0
    for i, start in enumerate(ordered):
        while j < len(ordered) and ordered[j] < start + window:
            j += 1
        most = max(most, j - i)
        over += (j - i) > quota
    return most, over


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and all its descendants (Linux /proc);
    a process that has exited counts 0."""
    import os
    from pathlib import Path

    tick = os.sysconf("SC_CLK_TCK")
    total, pids = 0.0, [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            pids += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_rows(rows: list[Row]) -> None:
    for r in rows:
        target = f"  (target {r.target})" if r.target else ""
        print(
            f"{r.name}: {r.value:.4g} {r.unit} vs baseline {r.baseline:.4g} {r.unit}"
            f" -> ratio {r.ratio:.3g}{target}"
        )


def bench_main(run: Callable[[bool], list[Row]], doc: str | None) -> None:
    """A benchmark module's command line: ``[--quick]``, its rows, and how long it took."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, shorter runs")
    args = parser.parse_args()
    start = time.monotonic()
    print_rows(run(args.quick))
    print(f"took {time.monotonic() - start:.0f} s")
