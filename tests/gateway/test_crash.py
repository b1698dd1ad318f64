"""A gateway process killed with SIGKILL mid-stream loses no acknowledged report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from edgecascade.protocol import Result, TopicKind, encode
from edgecascade.tools.broker import free_port
from tests.gateway.support import EDGE_MODEL, THRESHOLDS, edge_split, report
from tests.support import Collector, publish


def write_config(path: Path, site_url: str, prefix: str, state: Path, http_port: int) -> None:
    path.write_text(f"""
version = 1
gateway_id = "gwk"
prefix = "{prefix}"
thresholds_file = "{THRESHOLDS}"
metrics_interval_s = 0.5
[broker]
url = "{site_url}"
keepalive = 5
[edge]
model = "{EDGE_MODEL}"
[cloud]
deadline_ms = 3000
breaker_reset_s = 0.5
retry_s = 0.3
[storage]
state_dir = "{state}"
[http]
port = {http_port}
[devices]  # one device sends hundreds of reports at once: the rate limit is lifted
rate_per_s = 1e9
burst = 1e9
""")


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "edgecascade.gateway", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "gateway exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("gateway not ready")


def test_sigkill_loses_no_acknowledged_report(broker, topics, tmp_path, closing):
    from tests.gateway.support import CloudResponderSeam

    closing.append(CloudResponderSeam(broker.host, broker.port, topics))
    results = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    closing.append(results)
    sure, unsure = edge_split()
    port = free_port()
    config = tmp_path / "gw.toml"
    write_config(config, broker.url, topics.prefix, tmp_path / "state", port)
    log = tmp_path / "gateway.log"
    proc = start(config, log)
    try:
        wait_ready(port, proc)
        n = 300
        reps = []
        for i in range(n):
            if i % 3 == 0:
                reps.append(report("d1", i, confident=False, image=sure[i % len(sure)]))
            elif i % 25 == 1:
                reps.append(report("d1", i, confident=False, image=unsure[i % len(unsure)]))
            else:
                reps.append(report("d1", i, confident=True))
        sender = threading.Thread(target=publish, args=(
            broker.host, broker.port, [(topics.device_report("d1"), encode(r)) for r in reps]))
        sender.start()
        results.wait_for(40, 60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        sender.join(60)  # every report is now acknowledged by the broker
        killed_at = len(results.messages)
        print(f"killed after {killed_at} results")
        assert killed_at < n, "the gateway finished before it was killed; nothing was tested"
        proc = start(config, log)
        wait_ready(port, proc)
        got = results.wait_for(n, 90, where=lambda m: True)
        first: dict[tuple, list[bytes]] = defaultdict(list)
        deadline = time.monotonic() + 60
        while True:
            first.clear()
            for m in results.messages:
                from edgecascade.protocol import decode

                r = decode(Result, m.payload)
                if r.revision == 0:
                    first[r.key].append(m.payload)
            if len(first) >= n or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        missing = [i for i in range(n) if ("d1", 1, i) not in first]
        assert not missing, f"no result for seq {missing[:20]} ({len(missing)} missing)"
        for key, copies in first.items():  # a crash may republish a result: the same bytes
            assert len(set(copies)) == 1, key
        print(f"{len(results.messages)} results for {n} reports")
        assert len(got) >= n
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
