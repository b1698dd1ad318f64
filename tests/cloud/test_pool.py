"""Worker processes on one shared subscription: load split, a worker killed mid-burst.

mosquitto does not hand a dead shared subscriber's unacknowledged messages to the
other members (EMQX and HiveMQ can), so a request the killed worker held is answered
by nobody: the gateway's deadline expires, it falls back and may re-send. The test
plays that gateway and accounts for every request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from edgecascade.protocol import CloudResponse, ServiceState, decode
from tests.cloud.helpers import config_dict, make_request, sample_images, to_toml


class WorkerProcess:
    def __init__(self, tmp: Path, broker_url: str, topics, worker_id: str, **cfg) -> None:
        self.worker_id = worker_id
        conf = tmp / f"{worker_id}.toml"
        conf.write_text(to_toml(config_dict(broker_url, topics, worker_id=worker_id, **cfg)))
        self.log = tmp / f"{worker_id}.log"
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgecascade.cli", "cloud-worker", "--config", str(conf)],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGKILL)
            self.proc.wait(30)
        self._log.close()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


@pytest.fixture
def spawn(tmp_path):
    made: list[WorkerProcess] = []

    def factory(mqtt_broker, topics, worker_id, **cfg) -> WorkerProcess:
        w = WorkerProcess(tmp_path, mqtt_broker.url, topics, worker_id, **cfg)
        made.append(w)
        return w

    yield factory
    for w in made:
        w.close()


def states(req, topics, worker_id):
    topic = topics.worker_state(worker_id)
    return [decode(ServiceState, p) for t, p in req.others if t == topic]


def wait_online(req, topics, workers, timeout=90.0):
    try:
        req.wait_for(lambda: all(any(s.online for s in states(req, topics, w.worker_id))
                                 for w in workers), timeout=timeout)
    except AssertionError:
        raise AssertionError("workers did not come online:\n" +
                             "\n".join(f"{w.worker_id}: {w.tail()}" for w in workers)) from None


def answered_by(req) -> Counter:
    return Counter(decode(CloudResponse, v[0]).worker_id for v in req.responses.values())


def test_three_workers_split_a_burst_and_a_killed_one_loses_nothing_unaccounted(
        broker, topics, spawn, requester_factory):
    workers = [spawn(broker, topics, f"wk{i}") for i in range(3)]
    req = requester_factory(broker.host, broker.port, topics)
    wait_online(req, topics, workers)
    images, _ = sample_images(4)
    requests = [make_request("gw1", images, cid=f"r{i:03d}") for i in range(300)]
    victim = workers[1]
    sender = threading.Thread(target=lambda: [req.send(r) for r in requests])
    sender.start()
    # Kill the victim once it is clearly taking its share, while the burst goes on.
    req.wait_for(lambda: answered_by(req)[victim.worker_id] >= 3, timeout=60)
    victim.signal(signal.SIGKILL)
    sent_at_kill = len(req.responses)
    sender.join(120)
    assert sent_at_kill < len(requests), "the burst was over before the kill"
    # The LWT says the victim is gone (retained), as the gateway's dashboards would see.
    req.wait_for(lambda: not states(req, topics, victim.worker_id)[-1].online, timeout=30)

    # Gateway deadline: whatever is not answered by then is a timeout (it falls back).
    cids = [r.correlation_id for r in requests]
    # Here: 5 s without any new answer (requests take milliseconds each).
    last, quiet_since = -1, time.monotonic()
    while len(req.responses) < len(cids) and time.monotonic() - quiet_since < 5:
        if len(req.responses) != last:
            last, quiet_since = len(req.responses), time.monotonic()
        time.sleep(0.1)
    answered = {c for c in cids if c in req.responses}
    timed_out = [c for c in cids if c not in answered]
    assert len(answered) + len(timed_out) == len(requests)  # every request accounted
    by_worker = answered_by(req)
    assert by_worker[workers[0].worker_id] > 0 and by_worker[workers[2].worker_id] > 0
    print(f"answered {len(answered)}, timed out {len(timed_out)} (held by the killed worker)")

    # The gateway re-sends its timed-out requests: the survivors answer every one.
    for r in requests:
        if r.correlation_id in timed_out:
            req.send(r)
    got = req.wait(cids, timeout=60)
    assert {resp.worker_id for c, resp in got.items() if c in timed_out} <= {
        workers[0].worker_id, workers[2].worker_id}
    for resp in got.values():
        assert resp.status == "ok" and len(resp.items) == 4
    assert victim.proc.poll() is not None and victim.proc.returncode == -signal.SIGKILL


def test_sigterm_drains_and_publishes_offline_state(broker, topics, spawn, requester_factory):
    worker = spawn(broker, topics, "wkterm")
    req = requester_factory(broker.host, broker.port, topics)
    wait_online(req, topics, [worker])
    images, _ = sample_images(8)
    requests = [make_request("gw1", images, cid=f"t{i}") for i in range(20)]
    for r in requests:
        req.send(r)
    req.wait([requests[0].correlation_id], timeout=30)
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0, worker.tail()
    got = req.wait([r.correlation_id for r in requests], timeout=30)
    assert all(resp.status == "ok" for resp in got.values())
    req.wait_for(lambda: not states(req, topics, "wkterm")[-1].online, timeout=30)
    assert '"msg":"worker stopped"' in worker.tail()


def test_persistent_session_worker_restarted_after_a_kill_answers_what_it_held(
        broker, topics, spawn, requester_factory):
    """With ``clean_start = false`` the broker keeps a killed worker's unacknowledged and
    queued requests for its session; restarted under the same id, it answers them all."""
    cfg = {"broker": {"clean_start": False}}
    workers = [spawn(broker, topics, f"wp{i}", **cfg) for i in range(2)]
    req = requester_factory(broker.host, broker.port, topics)
    wait_online(req, topics, workers)
    images, _ = sample_images(4)
    requests = [make_request("gw1", images, cid=f"p{i:03d}") for i in range(200)]
    victim = workers[1]
    sender = threading.Thread(target=lambda: [req.send(r) for r in requests])
    sender.start()
    req.wait_for(lambda: answered_by(req)[victim.worker_id] >= 3, timeout=60)
    victim.signal(signal.SIGKILL)
    sender.join(120)
    victim.wait(30)
    unanswered = len(requests) - len(req.responses)
    again = spawn(broker, topics, victim.worker_id, **cfg)  # a supervisor restarts it
    got = req.wait([r.correlation_id for r in requests], timeout=120)
    assert all(resp.status == "ok" for resp in got.values())
    print(f"{unanswered} requests unanswered when the sender finished; all answered after "
          "the restart")
    assert again.proc.poll() is None


@pytest.mark.soak
def test_soak_repeated_kills_and_restarts_answer_every_request(broker, topics, spawn,
                                                                requester_factory):
    """On demand (-m soak): 2,000 requests while workers are killed and restarted in turn."""
    cfg = {"broker": {"clean_start": False}}
    ids = ["ws0", "ws1", "ws2"]
    procs = {w: spawn(broker, topics, w, **cfg) for w in ids}
    req = requester_factory(broker.host, broker.port, topics)
    wait_online(req, topics, list(procs.values()))
    images, _ = sample_images(4)
    requests = [make_request("gw1", images, cid=f"s{i:04d}") for i in range(2000)]
    sender = threading.Thread(target=lambda: [req.send(r) for r in requests])
    sender.start()
    for round_ in range(6):
        victim = ids[round_ % 3]
        target = len(req.responses) + 100
        req.wait_for(lambda t=target: len(req.responses) >= t or not sender.is_alive(),
                     timeout=120)
        procs[victim].signal(signal.SIGKILL)
        procs[victim].wait(30)
        procs[victim] = spawn(broker, topics, victim, **cfg)
    sender.join(300)
    got = req.wait([r.correlation_id for r in requests], timeout=300)
    assert all(resp.status == "ok" for resp in got.values())
