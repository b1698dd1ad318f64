"""What the live web dashboard shows, kept from the results and states the gateway
publishes. A plain in-memory core: ``add_result``/``set_device`` in, ``snapshot`` out.

The snapshot is what ``/api/snapshot`` returns and ``/events`` streams (server-sent
events); the page renders it and nothing else. Metric values come from the gateway's
own registry (the same numbers ``/metrics`` and the metrics topic carry).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

from edgecascade.gateway.breaker import STATE_VALUE
from edgecascade.protocol import DeviceState, Result, Tier
from edgecascade.protocol.jsonview import device_state_view, result_view

Key = tuple[str, int, int]
#: Ground truth for a frame, when someone knows it (the demo's emulator ledger does).
Truth = Callable[[Key], "int | None"]
#: Class names of a model, by its id (the registry entry of the model that answered).
Labels = Callable[[str], Sequence[str]]

LAST_RESULTS = 25
LATENCY_WINDOW = 2000
#: Seconds of history for the page's sparklines (answers/s by tier, latency), one bucket
#: a second: bounded at this many buckets whatever the rate.
SERIES_SECONDS = 60
#: What the page's latency figures measure (the demo report's are end to end).
LATENCY_MEANS = ("gateway: report received -> result published (first answers; the "
                 "device's network and the subscriber's are not in it)")


class _Bucket:
    __slots__ = ("second", "tiers", "latency_sum", "latency_n")

    def __init__(self, second: int) -> None:
        self.second = second
        self.tiers: Counter[str] = Counter()
        self.latency_sum = 0.0
        self.latency_n = 0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    i = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[i]


class LiveState:
    def __init__(self, labels: Labels = lambda model_id: (), truth: Truth | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.labels = labels
        self.truth = truth
        self._lock = threading.Condition()
        self._tiers: Counter[str] = Counter()
        self._reasons: Counter[str] = Counter()
        self._corrections = 0
        self._cost = 0.0
        self._correct = 0
        self._judged = 0
        self._latency: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._last: deque[tuple[Result, int | None]] = deque(maxlen=LAST_RESULTS)
        self._devices: dict[str, dict[str, Any]] = {}
        self._series: deque[_Bucket] = deque(maxlen=SERIES_SECONDS)
        self._clock = clock
        self.version = 0

    def add_result(self, result: Result) -> None:
        """Cheap on the publish path: counters and a deque; views are built on read."""
        truth = self.truth(result.key) if self.truth is not None else None
        with self._lock:
            self._cost += result.cost
            if result.revision == 0:
                self._tiers[result.tier] += 1
                self._reasons[result.reason] += 1
                self._latency.append(result.latency_ms)
                now = int(self._clock())
                if not self._series or self._series[-1].second != now:
                    self._series.append(_Bucket(now))
                b = self._series[-1]
                b.tiers[result.tier] += 1
                b.latency_sum += result.latency_ms
                b.latency_n += 1
                if truth is not None:
                    self._judged += 1
                    self._correct += int(truth == result.label)
            else:
                self._corrections += 1
            self._last.appendleft((result, truth))
            self._bump()

    def _view(self, result: Result, truth: int | None) -> dict[str, Any]:
        view = result_view(result, self.labels(result.model_id))
        if truth is not None:
            view["truth"] = truth
        return view

    def set_device(self, state: DeviceState) -> None:
        with self._lock:
            self._devices[state.device_id] = device_state_view(state)
            self._bump()

    def remove_device(self, device_id: str) -> None:
        with self._lock:
            self._devices.pop(device_id, None)
            self._bump()

    def touch(self) -> None:
        """New metrics: wake the streams."""
        with self._lock:
            self._bump()

    def _bump(self) -> None:
        self.version += 1
        self._lock.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the version passes ``seen`` (or ``timeout``); the new version."""
        with self._lock:
            self._lock.wait_for(lambda: self.version != seen, timeout)
            return self.version

    def _series_view(self) -> dict[str, Any]:
        """The last :data:`SERIES_SECONDS` seconds, one point a second (oldest first):
        answers per tier and the mean latency (None in a second without answers)."""
        end = int(self._clock())
        start = end - SERIES_SECONDS + 1
        by_second = {b.second: b for b in self._series if b.second >= start}
        seconds = range(start, end + 1)
        answers = {t.value: [by_second[s].tiers.get(t.value, 0) if s in by_second else 0
                             for s in seconds] for t in Tier}
        mean = [round(b.latency_sum / b.latency_n, 3) if (b := by_second.get(s)) and b.latency_n
                else None for s in seconds]
        return {"start": start, "step_s": 1, "answers_per_s": answers,
                "latency_ms_mean": mean}

    def snapshot(self, metrics: dict[str, float], budget: float | None) -> dict[str, Any]:
        with self._lock:
            answered = sum(self._tiers.values())
            lat = list(self._latency)
            return {
                "answered": answered,
                "tier_order": [t.value for t in Tier],
                "circuit_names": {str(v): s.value for s, v in STATE_VALUE.items()},
                "tiers": dict(self._tiers),
                "tier_share": {t: n / answered for t, n in self._tiers.items()} if answered
                else {},
                "reasons": dict(self._reasons),
                "corrections": self._corrections,
                "accuracy": self._correct / self._judged if self._judged else None,
                "judged": self._judged,
                "latency_ms": {"p50": percentile(lat, 50), "p90": percentile(lat, 90),
                               "p99": percentile(lat, 99), "window": len(lat),
                               "measures": LATENCY_MEANS},
                "series": self._series_view(),
                "result_cost": self._cost,
                "budget_messages": budget,
                "devices": sorted(self._devices.values(), key=lambda d: d["device_id"]),
                "last": [self._view(r, t) for r, t in self._last],
                "metrics": metrics,
                "version": self.version,
            }
