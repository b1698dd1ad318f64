"""``edgecascade status`` against a real gateway, real devices and a real broker."""

from __future__ import annotations

import json
import time
from pathlib import Path

from edgecascade.gateway.status import render, summarize
from edgecascade.tools.broker import free_port

from .conftest import gateway_toml, run_cli


def status(config: Path) -> tuple[int, dict]:
    out = run_cli("status", "--config", str(config), "--json")
    return out.returncode, json.loads(out.stdout)


def test_status_of_a_running_gateway(tmp_path: Path, broker, topics, cli) -> None:
    port = free_port()
    config = gateway_toml(tmp_path, broker.url, prefix=topics.prefix, http_port=port)
    gateway = cli("gateway", "--config", str(config))
    gateway.wait_for("gateway started")
    fleet = run_cli("devices", "--broker", broker.url, "--prefix", topics.prefix, "--count",
                    "2", "--rate", "10", "--duration", "1", "--json")
    assert fleet.returncode == 0, fleet.stderr
    acked = json.loads(fleet.stdout)["acked"]
    assert acked > 0
    deadline = time.monotonic() + 30
    while True:  # results are counted as the gateway publishes them
        code, doc = status(config)
        if sum(doc["results_by_tier"].values()) >= acked or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == 0 and doc["ready"] and doc["readiness"] == "ready", doc
    assert sum(doc["results_by_tier"].values()) == acked == doc["reports"]
    assert abs(sum(doc["tier_shares"].values()) - 1.0) < 1e-9
    assert doc["devices_known"] == 2 and doc["devices_online"] == 0  # the fleet has stopped
    assert doc["cloud_link"] == "disabled" and doc["spool_frames"] == 0
    text = run_cli("status", "--config", str(config))
    assert text.returncode == 0 and text.stdout.startswith("gateway   READY")
    assert "devices   0 online of 2 known" in text.stdout

    gateway.signal()
    assert gateway.finish()[0] == 0
    code, doc = status(config)
    assert code == 1 and not doc["reachable"] and not doc["ready"]


def test_summary_of_a_gateway_that_is_not_ready() -> None:
    metrics = ('# TYPE ec_gateway_circuit_state gauge\nec_gateway_circuit_state 2.0\n'
               '# TYPE ec_gateway_spool_depth gauge\nec_gateway_spool_depth 7.0\n')
    s = summarize((503, "not connected to the site broker\n"), metrics)
    assert not s.ready and s.cloud_link.startswith("down") and s.spool_frames == 7
    assert render(s).splitlines()[0] == "gateway   NOT READY  not connected to the site broker"
