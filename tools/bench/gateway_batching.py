"""Edge tier against its ceiling: the model alone at each batch size and thread count,
and the gateway's batcher in front of it.

    python -m edgecascade.tools.bench.gateway_batching [--quick]

The real edge model (``models/mnist-edge.tflite`` through ai-edge-litert, as the gateway
loads it). The ceiling rows time ``classify`` alone, per frame, at batch 1/8/16/64 and
1/2 LiteRT threads (batch 1, 1 thread is every row's baseline): they say where batching
and threads pay on this CPU. The pipeline rows push frames through the gateway's own
:class:`DynamicBatcher` (queue, worker-thread hand-off, ``on_batch`` completion) and
compare with the model alone on the same frames at the same batch size, the two
interleaved round by round (median of the per-round ratios): target >= 0.9x. A
closed-loop row keeps eight clients that each wait for their answer (the devices'
pattern); each frame has its own event (no shared keys between clients).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Sequence

import numpy as np

from edgecascade.gateway.batcher import DynamicBatcher
from edgecascade.gateway.edge import EdgeAnswer, TFLiteEdgeModel
from edgecascade.tools.bench import gateway_harness as h
from edgecascade.tools.bench.common import Row, percentile, print_rows

COMMAND = "python -m edgecascade.tools.bench.gateway_batching"
CONCURRENCY = 8
BATCHES = (1, 8, 16, 64)
THREADS = (1, 2)


def load(threads: int) -> TFLiteEdgeModel:
    from edgecascade.models.cascade import load_settings

    t = load_settings(h.THRESHOLDS).thresholds
    return TFLiteEdgeModel(str(h.EDGE_MODEL), num_threads=threads,
                           temperature=t.edge_temperature)


def raw_per_frame_us(model: TFLiteEdgeModel, pixels: np.ndarray, n: int, frames: int,
                     repeats: int) -> float:
    """The model alone: median us per frame classifying ``frames`` frames ``n`` at a time."""
    model.classify(pixels[:n])
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(0, frames - n + 1, n):
            model.classify(pixels[i : i + n])
        samples.append((time.perf_counter() - t0) / (frames // n * n) * 1e6)
    return statistics.median(samples)


def pipeline(model: TFLiteEdgeModel, pixels: np.ndarray, max_batch: int,
             total: int) -> tuple[float, float]:
    """(frames/s, mean batch) through the batcher: ``total`` frames queued before its
    worker starts (so no producer shares the interpreter), completion counted per batch.
    What is left over the model alone is the batcher's own per-batch cost."""
    done = threading.Event()
    count = [0]
    sizes: list[int] = []

    def on_batch(items: list[int], results: Sequence[EdgeAnswer | BaseException]) -> None:
        if isinstance(results[0], BaseException):
            raise RuntimeError("edge model failed") from results[0]
        sizes.append(len(items))
        count[0] += len(items)
        if count[0] >= total:
            done.set()

    batcher: DynamicBatcher[int, EdgeAnswer] = DynamicBatcher(
        lambda items: model.classify(pixels[np.asarray(items) % len(pixels)]),
        on_batch=on_batch, max_batch=max_batch, max_delay_s=0.0, capacity=total)
    if batcher.submit_many(range(total)) != total:
        raise RuntimeError("the batcher refused frames below its capacity")
    start = time.perf_counter()
    batcher.start()
    if not done.wait(120):
        raise RuntimeError(f"{count[0]} of {total} frames answered")
    elapsed = time.perf_counter() - start
    batcher.stop()
    return total / elapsed, statistics.mean(sizes)


def raw_fps(model: TFLiteEdgeModel, pixels: np.ndarray, n: int, total: int) -> float:
    """The model alone over the same frames, ``n`` at a time, indexed as the batcher does."""
    start = time.perf_counter()
    for i in range(0, total - n + 1, n):
        model.classify(pixels[np.arange(i, i + n) % len(pixels)])
    return (total // n * n) / (time.perf_counter() - start)


def closed_loop(model: TFLiteEdgeModel, pixels: np.ndarray, max_batch: int, max_delay_ms: float,
                total: int) -> tuple[float, float]:
    """(frames/s, p95 latency ms) for CONCURRENCY clients sending ``total`` frames in all."""
    events: dict[int, threading.Event] = {}
    per_client = total // CONCURRENCY

    def on_done(item: int, result: EdgeAnswer | BaseException, batch: int) -> None:
        events[item].set()

    batcher: DynamicBatcher[int, EdgeAnswer] = DynamicBatcher(
        lambda items: model.classify(pixels[np.asarray(items) % len(pixels)]), on_done,
        max_batch=max_batch, max_delay_s=max_delay_ms / 1000, capacity=256)
    batcher.start()
    latencies: list[float] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        for i in range(per_client):
            item = c * per_client + i  # unique per frame: no two clients share an event
            ev = events[item] = threading.Event()
            t0 = time.perf_counter()
            while not batcher.submit(item):
                time.sleep(0.0005)
            if not ev.wait(30):
                raise RuntimeError(f"frame {item} not answered")
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


def run(quick: bool = False) -> list[Row]:
    frames, repeats = (512, 3) if quick else (2048, 5)
    total = 2000 if quick else 8000
    runs = 1 if quick else 3
    pixels = h.images(max(frames, 1024))
    med = statistics.median
    rows: list[Row] = []
    raw: dict[tuple[int, int], float] = {}
    models = {t: load(t) for t in THREADS}
    for t, model in models.items():
        for n in BATCHES:
            raw[(t, n)] = raw_per_frame_us(model, pixels, n, frames, repeats)
    base = raw[(1, 1)]
    for (t, n), us in raw.items():
        rows.append(Row(f"edge model alone: time per frame, batch {n}, {t} thread(s) vs batch "
                        f"1, 1 thread (ceiling {1e6 / us:.0f} frames/s)", us, base, "us",
                        COMMAND))
    for t, model in models.items():
        for mb in (1, 16):
            ceiling, ratios, batches = [], [], []
            for _ in range(max(3, runs)):  # interleaved: drift in the machine's load hits both
                alone = raw_fps(model, pixels, mb, total)
                fps, mean_batch = pipeline(model, pixels, mb, total)
                ceiling.append(alone)
                ratios.append(fps / alone)
                batches.append(mean_batch)
            rows.append(Row(f"edge tier through the batcher, max_batch {mb}, {t} thread(s) "
                            f"(mean batch {med(batches):.1f}) vs the model alone at that batch",
                            med(ceiling) * med(ratios), med(ceiling), "frames/s", COMMAND,
                            target="ratio >= 0.9"))
    model = models[1]
    closed_loop(model, pixels, 8, 2.0, 400)  # warm up
    a = [closed_loop(model, pixels, 1, 0.0, total // 2) for _ in range(runs)]
    b = [closed_loop(model, pixels, CONCURRENCY, 0.0, total // 2) for _ in range(runs)]
    rows += [
        Row("edge closed loop, 8 waiting clients: max_batch 8 vs 1 (opportunistic, no delay)",
            med(x[0] for x in b), med(x[0] for x in a), "frames/s", COMMAND),
        Row("edge closed loop p95 latency, 8 waiting clients: max_batch 8 vs 1",
            med(x[1] for x in b), med(x[1] for x in a), "ms", COMMAND, target="ratio <= 2"),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print_rows(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
