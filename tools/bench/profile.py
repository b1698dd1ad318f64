"""Where the time goes per frame: py-spy over a tier under load, samples by category.

    sudo python -m edgecascade.tools.bench.profile gateway [--rate 2500] [--seconds 5]
    sudo python -m edgecascade.tools.bench.profile worker [--seconds 5]
        [--gil] [--top N] [--raw FILE]

No ``run`` here (the benchmark runner skips it): it needs py-spy (``pip install py-spy``)
and ptrace rights. The gateway case runs the gateway process on a real mosquitto, fed by
the separate load generator at ``--rate`` confident reports/s; the worker case runs one
``cloud-worker`` process fed bursts of 32-frame requests. Busy samples (idle threads
excluded) of every thread are put in the first category whose pattern matches, walking
from the innermost frame out; the table is what ``docs/performance.md`` shows.

py-spy takes a thread blocked in ``select`` shortly after a wake-up for busy, so at low
rates paho's wait shows up as paho time. ``--gil`` samples only the thread holding the
GIL: Python's own work, without waits (nor C code that releases the GIL: SQLite's I/O,
socket calls). ``--top N`` lists the innermost frames with most samples; ``--raw`` keeps
py-spy's stacks.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from edgecascade.protocol import Topics
from edgecascade.tools.bench import cloud_harness as ch
from edgecascade.tools.bench import gateway_harness as h
from edgecascade.tools.bench import loadgen

CATEGORIES = (  # (name, substrings of a frame); first match from the innermost frame wins
    ("SQLite (ledger, outbox: BEGIN, INSERT, COMMIT)", ("gateway/db.py", "gateway/ledger.py",
                                                         "sqlite3", "gateway/spool.py")),
    ("metrics (prometheus labels/inc/observe)", ("prometheus_client", "metrics.py")),
    ("protocol: decode, validate, encode (msgpack)", ("protocol/", "msgpack")),
    ("model (LiteRT invoke, numpy pre/post)", ("litert", "interpreter", "models/runtime",
                                               "numpy", "edge.py", "cloud/model.py")),
    ("logging", ("logging/",)),
    ("paho: packet I/O, callbacks dispatch", ("paho/",)),
    ("threading / queues / locks", ("threading.py", "queue.py", "batcher.py")),
    ("tier logic (policy, core, shell)", ("gateway/", "cloud/")),
)


def stacks(raw: str) -> Iterator[tuple[list[str], int]]:
    """py-spy's raw output as (frames outermost first, without the thread; samples)."""
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";")[1:], int(count)


def categorise(raw: str) -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for frames, count in stacks(raw):
        name = "other Python"
        for frame in reversed(frames):
            hit = next((c for c, pats in CATEGORIES if any(p in frame for p in pats)), None)
            if hit:
                name = hit
                break
        out[name] += count
    return out


def record(pid: int, seconds: float, out: Path, gil: bool = False) -> str:
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy not found: pip install py-spy")
    subprocess.run([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                    "--rate", "250", *(["--gil"] if gil else []), "--format", "raw",
                    "--output", str(out), "--nonblocking"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out.read_text()


def gateway(rate: float, seconds: float, gil: bool) -> tuple[str, int]:
    with tempfile.TemporaryDirectory() as tmpdir, h.broker() as b:
        tmp = Path(tmpdir)
        topics = Topics(f"p{uuid.uuid4().hex[:8]}/v1")
        sink = h.Sink(b, topics.filter(h.TopicKind.RESULT))
        proc = h.spawn_gateway(h.gateway_toml(tmp, b.url, topics), b, topics)
        try:
            n = int(rate * (seconds + 2))
            src = loadgen.spawn_source(b, topics, n, rate, tmp / "src.json")
            time.sleep(1)
            raw = record(proc.pid, seconds, tmp / "gw.txt", gil)
            loadgen.source_result(src, tmp / "src.json", 120)
            sink.wait(n, 60)
            return raw, int(rate * seconds)
        finally:
            h.stop_process(proc)
            sink.close()


def worker(seconds: float, gil: bool) -> tuple[str, int]:
    from edgecascade.tools.bench.cloud_scaling import Deployment

    with tempfile.TemporaryDirectory() as tmpdir, ch.broker() as b:
        dep = Deployment(b, Path(tmpdir), 1, 1, 1280)
        frames = [0]
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                dep.burst()
                frames[0] += 1280

        t = threading.Thread(target=load, daemon=True)
        try:
            children = Path(f"/proc/{dep.proc.pid}/task/{dep.proc.pid}/children").read_text()
            pid = int(children.split()[0]) if children.split() else dep.proc.pid
            t.start()
            time.sleep(1)
            f0 = frames[0]
            raw = record(pid, seconds, Path(tmpdir) / "wk.txt", gil)
            done = frames[0] - f0
            stop.set()
            t.join(60)
            return raw, max(done, 1)
        finally:
            dep.close()


def top_frames(raw: str, n: int) -> str:
    """The innermost frames with the most busy samples (self time), for finding hot spots."""
    own: collections.Counter[str] = collections.Counter()
    for frames, count in stacks(raw):
        if frames:
            own[frames[-1]] += count
    total = sum(own.values()) or 1
    return "\n".join(f"{100 * c / total:5.1f}%  {f}" for f, c in own.most_common(n))


def table(counts: collections.Counter[str], frames: int, seconds: float) -> str:
    total = sum(counts.values()) or 1
    lines = ["| where | share of busy samples | us per frame (est.) |", "|---|---|---|"]
    for name, n in counts.most_common():
        # 250 samples/s per thread: n samples ~ n/250 s of one thread's busy time
        us = n / 250 / frames * 1e6
        lines.append(f"| {name} | {100 * n / total:.0f}% | {us:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tier", choices=("gateway", "worker"))
    parser.add_argument("--rate", type=float, default=2500.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=0,
                        help="also list the N innermost frames with the most samples")
    parser.add_argument("--gil", action="store_true",
                        help="sample only the thread holding the GIL (Python's own work)")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw stacks in this file")
    args = parser.parse_args()
    if args.tier == "gateway":
        raw, frames = gateway(args.rate, args.seconds, args.gil)
    else:
        raw, frames = worker(args.seconds, args.gil)
    if args.raw:
        args.raw.write_text(raw)
    print(table(categorise(raw), frames, args.seconds))
    if args.top:
        print(top_frames(raw, args.top))


if __name__ == "__main__":
    main()
