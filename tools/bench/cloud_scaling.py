"""Cloud worker scaling across cores: processes on the shared subscription vs LiteRT threads.

    python -m edgecascade.tools.bench.cloud_scaling [--quick]

Each configuration is the real ``edgecascade cloud-worker`` command in its own
processes (``--processes k``, or one process with ``model.num_threads = 2``) on one
mosquitto. The load is 32-frame requests (the gateway's packing) published in a burst
from this process: 40 publishes per 1,280 frames, far below what one paho client sends
(the load generator is not the bottleneck; its own ceiling is a row). Throughput =
frames answered / (first publish -> last response), median of several runs; the
single-process rate of the same run is the baseline of every row.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from edgecascade.cloud.processes import default_processes
from edgecascade.protocol import ServiceState, TopicKind, Topics, decode, encode
from edgecascade.tools.bench import cloud_harness as h
from edgecascade.tools.bench.common import Row, cpu_seconds, print_rows

COMMAND = "python -m edgecascade.tools.bench.cloud_scaling"
PER_REQUEST = 32


def _toml(url: str, topics: Topics, worker_id: str, num_threads: int) -> str:
    return f"""version = 1
worker_id = "{worker_id}"
prefix = "{topics.prefix}"
shared_group = "scale"
[broker]
url = "{url}"
[model]
path = "{h.CLOUD_MODEL}"
num_threads = {num_threads}
max_batch = 64
max_delay_ms = 2
"""


def _online(b: h.MosquittoBroker, topics: Topics, want: int, timeout: float) -> None:
    seen: set[str] = set()
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    done = threading.Event()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        if decode(ServiceState, msg.payload).online:
            seen.add(msg.topic)
            if len(seen) >= want:
                done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:6]}")
    c.on_message = on_message
    c.on_connect = lambda cl, *a, **k: cl.subscribe(topics.filter(TopicKind.WORKER_STATE), 1)
    c.connect(b.host, b.port)
    c.loop_start()
    try:
        if not done.wait(timeout):
            raise RuntimeError(f"{len(seen)} of {want} worker processes online")
    finally:
        c.loop_stop()
        c.disconnect()


class Deployment:
    """``edgecascade cloud-worker --processes k`` on its own topics, started once."""

    def __init__(self, b: h.MosquittoBroker, tmp: Path, processes: int, num_threads: int,
                 frames: int) -> None:
        self.topics = Topics(f"s{uuid.uuid4().hex[:8]}/v1")
        conf = tmp / f"{self.topics.prefix.split('/')[0]}.toml"
        conf.write_text(_toml(b.url, self.topics, f"wk{uuid.uuid4().hex[:6]}", num_threads))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgecascade.cli", "--log-level", "warning", "cloud-worker",
             "--config", str(conf), "--processes", str(processes)],
            stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.client = h.Client(b.host, b.port, self.topics.cloud_response(h.GATEWAY))
        self.pixels = h.images(frames)
        _online(b, self.topics, processes, 90)
        self.burst(warm=PER_REQUEST * processes * 2)

    def burst(self, warm: int = 0) -> tuple[float, float]:
        """(frames/s, frames per worker CPU-second) for one burst (publish all, await all)."""
        pixels = self.pixels[:warm] if warm else self.pixels
        reqs = h.requests(pixels, PER_REQUEST)
        payloads = [encode(r) for r in reqs]
        cpu = cpu_seconds(self.proc.pid)
        start = time.perf_counter()
        for p in payloads:
            self.client.publish(self.topics.cloud_request(h.GATEWAY), p)
        self.client.wait([r.correlation_id for r in reqs])
        wall = time.perf_counter() - start
        used = max(cpu_seconds(self.proc.pid) - cpu, 1e-3)
        return len(pixels) / wall, len(pixels) / used

    def close(self) -> None:
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def generator_ceiling(b: h.MosquittoBroker, frames: int) -> float:
    """Requests/s this process publishes to nobody (no worker): the load side's ceiling."""
    topics = Topics(f"g{uuid.uuid4().hex[:8]}/v1")
    client = h.Client(b.host, b.port, topics.cloud_response(h.GATEWAY))
    try:
        payloads = [encode(r) for r in h.requests(h.images(frames), PER_REQUEST)]
        start = time.perf_counter()
        infos = [client.client.publish(topics.cloud_request(h.GATEWAY), p, qos=1)
                 for p in payloads]
        for info in infos:
            info.wait_for_publish(60)
        return len(payloads) * PER_REQUEST / (time.perf_counter() - start)
    finally:
        client.close()


def run(quick: bool = False) -> list[Row]:
    """Every configuration runs at once, idle until its burst; the bursts are interleaved
    round by round (order rotated) so that drift in the machine's other load hits all of
    them alike; each row is the median of the per-round ratios to the single process."""
    frames, rounds = (1280, 2) if quick else (2560, 5)
    cores = default_processes()
    configs = [("one", 1, 1), ("threads", 1, 2)] + [
        (f"p{k}", k, 1) for k in range(2, max(2, cores) + 1)]
    with tempfile.TemporaryDirectory() as tmpdir, h.broker() as b:
        tmp = Path(tmpdir)
        gen = generator_ceiling(b, frames)
        deps = {name: Deployment(b, tmp, k, t, frames) for name, k, t in configs}
        try:
            got: dict[str, list[tuple[float, float]]] = {name: [] for name in deps}
            for r in range(rounds):
                order = list(deps)[r % len(deps):] + list(deps)[: r % len(deps)]
                for name in order:
                    got[name].append(deps[name].burst())
        finally:
            for d in deps.values():
                d.close()
    med = statistics.median
    one = med(x[0] for x in got["one"])
    one_cpu = med(x[1] for x in got["one"])

    def rate(name: str, i: int = 0) -> float:  # median of per-round ratios, as a rate
        base = one if i == 0 else one_cpu
        return base * med(x[i] / y[i] for x, y in zip(got[name], got["one"], strict=True))

    rows = [Row("cloud worker: 1 process, LiteRT num_threads 2 vs 1 process, 1 thread",
                rate("threads"), one, "frames/s", COMMAND, target=">= 1.8 on 2 cores")]
    for name, k, _ in configs[2:]:
        rows.append(Row(f"cloud worker: --processes {k} vs 1 process ({cores} cores)",
                        rate(name), one, "frames/s", COMMAND, target=f">= {0.9 * k:.2g}"))
        rows.append(Row(f"cloud worker: frames per worker CPU-second, --processes {k} vs 1 "
                        "(scaling efficiency: what the cores other load leaves give)",
                        rate(name, 1), one_cpu, "frames/cpu-s", COMMAND, target=">= 0.9"))
    rows.append(Row("cloud worker: frames per worker CPU-second, num_threads 2 vs 1",
                    rate("threads", 1), one_cpu, "frames/cpu-s", COMMAND))
    rows.append(Row("cloud load generator alone (publishes to nobody) vs 1 worker process",
                    gen, one, "frames/s", COMMAND, target=">> 1 (not the bottleneck)"))
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
