"""A Node.js dashboard client written from PROTOCOL.md alone decodes every message of a
short demo run, in both encodings (msgpack and the JSON view), and agrees with the
Python codec on every one of them."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from edgecascade.protocol import decode
from edgecascade.tools import protocol_doc
from edgecascade.tools.demo.runner import DemoOptions, run_demo
from tests.support import Collector

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE = shutil.which("node")


def python_view(topic: str, payload: bytes, kind: str, encoding: str) -> Any:
    """What the Python side makes of one message (None for an empty payload)."""
    if not payload:
        return None
    if encoding == "json":
        obj = json.loads(payload)
        return {k: v for k, v in obj.items() if k not in ("schema", "kind")} \
            if kind != "ha" else obj
    cls = protocol_doc.PAYLOADS[next(k for k in protocol_doc.PAYLOADS if k.value == kind)][0]
    return json.loads(json.dumps(decode(cls, payload).to_plain()))


@pytest.mark.slow
def test_node_client_decodes_every_demo_message_in_both_encodings(broker, topics, tmp_path):
    if NODE is None or not (NODE_DIR / "node_modules" / "mqtt").is_dir():
        pytest.skip("node or its packages missing (scripts/test runs npm ci in "
                    "tests/dashboards/node)")
    seen = Collector(broker.host, broker.port, [f"{topics.prefix}/#", "homeassistant/#"])
    proc = subprocess.Popen(
        [NODE, "client.js", broker.url, topics.prefix, str(protocol_doc.DOC), "homeassistant"],
        cwd=NODE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines: list[dict[str, Any]] = []
    cond = threading.Condition()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            with cond:
                lines.append(json.loads(raw))
                cond.notify_all()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        with cond:
            assert cond.wait_for(lambda: any("subscribed" in x for x in lines), 30), lines
        report = run_demo(DemoOptions(devices=2, rate=5.0, duration=2.0, broker=broker.url,
                                      prefix=topics.prefix, out=tmp_path / "demo",
                                      live=False), write=lambda s: None)
        assert report is not None and report.unanswered == 0
        want = len(seen.messages)
        with cond:
            assert cond.wait_for(lambda: len([x for x in lines if "topic" in x]) >= want, 30)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        reader.join(30)
        proc.wait(30)
        seen.close()
    messages = [x for x in lines if "topic" in x]
    summary = next(x for x in lines if "summary" in x)
    errors = [x for x in messages if "error" in x]
    print(summary)
    assert summary["failures"] == 0 and not errors, errors[:5]
    for kind in ("result", "device_state", "gateway_state", "gateway_metrics"):
        for encoding in ("msgpack", "json"):
            assert summary["summary"].get(f"{kind}/{encoding}", 0) >= 1, (kind, encoding,
                                                                          summary)
    assert summary["summary"]["device_report/msgpack"] >= 20
    assert summary["summary"]["ha/json"] >= 12  # 6 entities x 2 devices

    # Node and Python agree on every message, in the order the broker delivered them
    by_topic: dict[str, list[bytes]] = {}
    for m in seen.messages:
        by_topic.setdefault(m.topic, []).append(m.payload)
    for x in messages:
        payload = by_topic[x["topic"]].pop(0)
        assert x["message"] == python_view(x["topic"], payload, x["kind"], x["encoding"]), x
    # every frame's final result is readable in both encodings
    results = [x for x in messages if x["kind"] == "result"]
    keys = {enc: {(r["message"]["device_id"], r["message"]["epoch"], r["message"]["seq"])
                  for r in results if r["encoding"] == enc} for enc in ("msgpack", "json")}
    assert keys["msgpack"] == keys["json"] and len(keys["json"]) == report.frames_sent
    assert all(r["message"]["label_name"] == str(r["message"]["label"])
               for r in results if r["encoding"] == "json")
