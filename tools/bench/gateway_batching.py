"""Edge dynamic batching at concurrency 8 versus batch size 1.

    python -m edgecascade.tools.bench.gateway_batching [--quick]

The gateway's own :class:`DynamicBatcher` in front of the real edge model
(``models/mnist-edge.tflite`` through ai-edge-litert, 1 thread). Eight closed-loop
clients each submit a frame and wait for its answer before sending the next, the way
eight devices waiting on their answers load the gateway. Baseline: the same with
``max_batch = 1``. Median of several runs.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np

from edgecascade.gateway.batcher import DynamicBatcher
from edgecascade.gateway.edge import EdgeAnswer, TFLiteEdgeModel
from edgecascade.tools.bench import gateway_harness as h
from edgecascade.tools.bench.common import Row, percentile, print_rows

COMMAND = "python -m edgecascade.tools.bench.gateway_batching"
CONCURRENCY = 8


def closed_loop(model: TFLiteEdgeModel, pixels: np.ndarray, max_batch: int, max_delay_ms: float,
                total: int) -> tuple[float, float]:
    """(frames/s, p95 latency ms) for CONCURRENCY clients sending ``total`` frames in all."""
    events: dict[int, threading.Event] = {}

    def on_done(item: int, result: EdgeAnswer | BaseException, batch: int) -> None:
        events[item].set()

    batcher: DynamicBatcher[int, EdgeAnswer] = DynamicBatcher(
        lambda items: model.classify(pixels[items]), on_done, max_batch=max_batch,
        max_delay_s=max_delay_ms / 1000, capacity=256)
    batcher.start()
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = total // CONCURRENCY

    def client(c: int) -> None:
        for i in range(per_client):
            item = (c * per_client + i) % len(pixels)
            ev = threading.Event()
            events[item] = ev
            t0 = time.perf_counter()
            while not batcher.submit(item):
                time.sleep(0.0005)
            ev.wait(30)
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CONCURRENCY)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    batcher.stop()
    return len(latencies) / elapsed, percentile(latencies, 95)


def raw_per_frame_us(model: TFLiteEdgeModel, pixels: np.ndarray, n: int, loops: int) -> float:
    model.classify(pixels[:n])
    samples = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(loops):
            model.classify(pixels[:n])
        samples.append((time.perf_counter() - t0) / loops / n * 1e6)
    return statistics.median(samples)


def run(quick: bool = False) -> list[Row]:
    from edgecascade.models.cascade import load_settings

    t = load_settings(h.THRESHOLDS).thresholds
    model = TFLiteEdgeModel(str(h.EDGE_MODEL), temperature=t.edge_temperature)
    pixels = h.images(CONCURRENCY * 64)  # distinct items: index == client slot
    total = 800 if quick else 2400
    runs = 1 if quick else 5
    closed_loop(model, pixels, 8, 2.0, 200)  # warm up
    base_tput, base_p95, tput, p95 = [], [], [], []
    for _ in range(runs):
        a = closed_loop(model, pixels, 1, 0.0, total)
        b = closed_loop(model, pixels, CONCURRENCY, 2.0, total)
        base_tput.append(a[0])
        base_p95.append(a[1])
        tput.append(b[0])
        p95.append(b[1])
    raw1 = raw_per_frame_us(model, pixels, 1, 100 if quick else 300)
    raw8 = raw_per_frame_us(model, pixels, CONCURRENCY, 100 if quick else 300)
    med = statistics.median
    return [
        Row("edge model alone: time per frame, batch 8 vs batch 1 (the ceiling of batching)",
            raw8, raw1, "us", COMMAND),
        Row("edge batching throughput, concurrency 8 (max_batch 8 vs 1)", med(tput),
            med(base_tput), "frames/s", COMMAND, target="ratio >= 3"),
        Row("edge batching p95 latency, concurrency 8 (max_batch 8 vs 1)", med(p95),
            med(base_p95), "ms", COMMAND, target="ratio <= 2"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print_rows(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
