"""A user's own model end to end: `models import` of a workload with its own class names,
run from the repository's root, then `demo --workload <folder>` on a real external
mosquitto that a Home Assistant would watch: exit 0, report.html written, and the
workload's class names (never MNIST's digits) in the JSON results, in the retained
state HA reads and in the report; at the end the demo clears what it retained there."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import jinja2

from edgecascade.gateway.discovery import ENTITIES
from edgecascade.protocol import Topics
from edgecascade.protocol.jsonview import JsonTopics
from tests.support import Collector, publish
from tests.workloads.synthetic import build

ROOT = Path(__file__).resolve().parents[2]
NAMES = {"slow", "mid", "fast"}  # tests/workloads/synthetic.py's class names


def cli(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgecascade", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_imported_workload_names_its_classes_everywhere(broker, tmp_path: Path) -> None:
    src = build(tmp_path / "in")
    workload = tmp_path / "models" / "synth"
    done = cli("models", "import", "--name", "synth", "--mcu", src["mcu"], "--edge",
               src["edge"], "--cloud", src["cloud"], "--data", src["calib"], "--test",
               src["test"], "--out", workload)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mnist" not in done.stdout.lower()  # its own targets, not MNIST's

    topics = Topics(f"t{uuid.uuid4().hex[:10]}/v1")
    jt = JsonTopics(f"{topics.prefix}/json")
    seen = Collector(broker.host, broker.port, [jt.all(), "homeassistant/#"])
    try:
        out = tmp_path / "demo"
        demo = cli("demo", "--workload", workload, "--broker", broker.url, "--prefix",
                   topics.prefix, "--devices", "2", "--rate", "5", "--duration", "2",
                   "--no-live", "--out", out)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        assert "synth's test split" in demo.stdout and "shipped" not in demo.stdout
        results = [json.loads(m.payload) for m in seen.messages
                   if m.topic.startswith(f"{jt.root}/res/")]
        assert len(results) >= 20
        assert {r["label_name"] for r in results} <= NAMES, results[:3]
        assert {r["model_id"] for r in results} <= {"synth-mcu", "synth-edge", "synth-cloud"}
        # what HA reads: the retained latest result per device, through the label entity
        label = next(json.loads(m.payload) for m in seen.messages
                     if m.topic.endswith("/label/config") and m.payload
                     and "edgecascade_demo-0000" in m.topic)
        states = [m.payload for m in seen.messages
                  if m.topic == label["state_topic"] and m.payload]
        assert states, seen.describe()
        template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(
            label["value_template"])
        assert {template.render(value_json=json.loads(p)) for p in states} <= NAMES
        assert (out / "report.html").is_file()
        page = (out / "report.html").read_text()
        assert all(name in page for name in NAMES)
        assert "slow, mid, fast" in page  # the classes row of the run parameters

        # the demo cleared what it retained on the external broker (HA keeps no phantoms)
        assert "clean-up: cleared" in demo.stdout
        sentinel = f"{topics.prefix}/sentinel"
        publish(broker.host, broker.port, [(sentinel, b"x")], retain=True)
        late = Collector(broker.host, broker.port,
                         ["homeassistant/#", f"{topics.prefix}/#"])
        try:
            late.wait_for(1, 10, where=lambda m: m.topic == sentinel)
            left = [m.topic for m in late.messages if m.topic != sentinel]
            assert left == [], left
        finally:
            late.close()
        assert len(ENTITIES) == 6
    finally:
        seen.close()
