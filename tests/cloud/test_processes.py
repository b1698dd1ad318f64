"""``cloud-worker --processes N``: N real worker processes on one $share group, drained
together on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import replace

from edgecascade.cloud.processes import instance_config
from edgecascade.config import HttpSection
from edgecascade.protocol import ServiceState, decode
from tests.cloud.helpers import config_dict, make_config, make_request, sample_images, to_toml


def test_instance_config_gives_each_process_its_own_id_and_port(topics):
    cfg = make_config("mqtt://127.0.0.1:1883", topics, worker_id="wk")
    cfg = replace(cfg, http=HttpSection(enabled=True, port=9200))
    one = instance_config(cfg, 1)
    assert (one.worker_id, one.http.port, one.shared_group) == ("wk-1", 9201, cfg.shared_group)
    assert instance_config(cfg, 0).http.port == 9200


def _states(req, topics, worker_id):
    topic = topics.worker_state(worker_id)
    return [decode(ServiceState, p).online for t, p in req.others if t == topic]


def test_two_processes_share_the_load_and_drain_on_sigterm(broker, topics, tmp_path,
                                                          requester_factory):
    conf = tmp_path / "w.toml"
    conf.write_text(to_toml(config_dict(broker.url, topics, worker_id="wkp")))
    log = (tmp_path / "w.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecascade.cli", "cloud-worker", "--config", str(conf),
         "--processes", "2"], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    ids = ["wkp-0", "wkp-1"]
    try:
        req = requester_factory(broker.host, broker.port, topics)
        req.wait_for(lambda: all(True in _states(req, topics, w) for w in ids), timeout=90)
        images, _ = sample_images(2)
        reqs = [make_request("gw1", images, cid=f"p{i:02d}") for i in range(40)]
        for r in reqs:
            req.send(r)
        got = req.wait([r.correlation_id for r in reqs], timeout=60)
        by = Counter(resp.worker_id for resp in got.values())
        assert set(by) == set(ids), by  # the $share group spread the requests over both
        assert all(resp.status == "ok" for resp in got.values())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        req.wait_for(lambda: all(_states(req, topics, w)[-1] is False for w in ids), timeout=10)
        assert all(len(v) == 1 for v in req.responses.values())  # none answered twice
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        print((tmp_path / "w.log").read_text(errors="replace")[-1500:])
