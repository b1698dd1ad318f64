"""Swapping the edge model at run time: a real gateway on real mosquitto, the real LiteRT
models, a continuous stream of reports for the edge tier while the ``[edge] model`` file is
replaced by v2 and then by a corrupt file.

v2 is an honest second version: a different model file (the repo's smaller mcu model,
same task and same input) registered as ``mnist-edge`` version 2 in a registry next to the
configured file, which is where ``ModelRunner`` looks a file's id and version up (by
sha256, ``models/registry.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgecascade.gateway.config import CloudConfig, EdgeConfig
from edgecascade.gateway.edge import TFLiteEdgeModel
from edgecascade.models.cascade import load_settings
from edgecascade.models.registry import sha256_file
from edgecascade.protocol import Frame, Result, encode
from tests.gateway.conftest import decoded_results
from tests.gateway.support import EDGE_MODEL, REPO, THRESHOLDS, images, report
from tests.support import Collector

MCU_MODEL = REPO / "models" / "mnist-mcu.tflite"


def write_versions(folder: Path) -> tuple[Path, Path]:
    """``edge-v1.tflite`` (mnist-edge v1), ``edge-v2.tflite`` (mnist-edge v2) and their
    registry in ``folder``."""
    doc = json.loads((REPO / "models" / "registry.json").read_text())
    entry = next(m for m in doc["models"] if m["id"] == "mnist-edge")
    v1, v2 = folder / "edge-v1.tflite", folder / "edge-v2.tflite"
    shutil.copyfile(EDGE_MODEL, v1)
    shutil.copyfile(MCU_MODEL, v2)
    doc["models"] = [{**entry, "version": n, "file": p.name, "sha256": sha256_file(p),
                      "size": p.stat().st_size} for n, p in ((1, v1), (2, v2))]
    (folder / "registry.json").write_text(json.dumps(doc))
    return v1, v2


def replace_file(source: Path | bytes, target: Path) -> None:
    """What a field user does: write next to it, then rename over it (atomic)."""
    tmp = target.with_suffix(".new")
    if isinstance(source, bytes):
        tmp.write_bytes(source)
    else:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def unique_frame(image: int, seq: int) -> Frame:
    """Test image ``image`` with its four corner pixels set from ``seq``: every report's
    frame differs (no content-cache hits), the digit is unchanged."""
    data = bytearray(images()[0][image].tobytes())
    for corner, value in zip((0, 27, 28 * 27, 28 * 28 - 1),
                             (seq & 15, (seq >> 4) & 15, (seq >> 8) & 15, (seq >> 12) & 15),
                             strict=True):
        data[corner] = value
    return Frame(data=bytes(data), shape=(28, 28))


class Stream:
    """Publishes unsure reports (seq 0, 1, ...) until stopped, at most ``ahead`` unanswered;
    each carries a frame of its own."""

    def __init__(self, broker, topics, results: Collector, pictures: list[int],
                 ahead: int = 8) -> None:
        self.topics, self.results, self.pictures, self.ahead = topics, results, pictures, ahead
        self.sent: list[Frame] = []  # by seq
        self.stopped = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="swap-stream")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        seq = 0
        while not self.stopped.is_set():
            self.results.wait_for(seq - self.ahead, 60)  # paced by answers, not by a clock
            frame = unique_frame(self.pictures[seq % len(self.pictures)], seq)
            r = replace(report("d1", seq, confident=False), frame=frame)
            self.client.publish(self.topics.device_report("d1"), encode(r), qos=1
                                ).wait_for_publish(10)
            self.sent.append(frame)
            seq += 1

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(60)
        self.client.loop_stop()
        self.client.disconnect()


def wait_until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_edge_model_swaps_without_dropping_a_frame(tmp_path, broker, topics, start_gateway,
                                                   results, closing):
    v1, v2 = write_versions(tmp_path)
    live = tmp_path / "edge.tflite"
    shutil.copyfile(v1, live)
    # Images both versions are sure of (so the edge answers every report), and the
    # confidence each version gives each: a result must carry its named model's numbers.
    t = load_settings(THRESHOLDS).thresholds
    models = {n: TFLiteEdgeModel(str(p), temperature=t.edge_temperature)
              for n, p in ((1, v1), (2, v2))}
    by_version = {n: m.classify(images()[0][:300]) for n, m in models.items()}
    pictures = [i for i in range(300)
                if min(by_version[1][i].confidence, by_version[2][i].confidence)
                >= t.edge_confidence + 0.05
                and abs(by_version[1][i].confidence - by_version[2][i].confidence) > 1e-3][:40]
    assert len(pictures) >= 10
    gw = start_gateway(broker.url, topics, cloud=CloudConfig(enabled=False),
                       edge=EdgeConfig(model=str(live)))
    assert (gw.edge.model_id, gw.edge.model_version) == ("mnist-edge", 1)

    def versions() -> list[int]:
        return [r.model_version for r in decoded_results(results)]

    stream = Stream(broker, topics, results, pictures)
    closing.append(stream)
    results.wait_for(20, 60)
    replace_file(v2, live)
    wait_until(lambda: 2 in versions())
    results.wait_for(len(results.messages) + 20, 60)
    replace_file(b"\x00not a model\x00" * 64, live)
    wait_until(lambda: gw.metrics.value("edge_model_swaps", outcome="refused") == 1)
    results.wait_for(len(results.messages) + 20, 60)
    stream.close()
    sent = stream.sent
    results.wait_for(len(sent), 60)

    got = decoded_results(results)
    assert Counter(r.seq for r in got) == Counter(range(len(sent))), "one answer per report"
    assert all(isinstance(r, Result) and r.revision == 0 and r.tier == "edge" for r in got)
    by_seq = sorted(got, key=lambda r: r.seq)
    named = [r.model_version for r in by_seq]
    assert named == sorted(named) and named[0] == 1 and named[-1] == 2, named  # v1, then v2
    assert {r.model_id for r in got} == {"mnist-edge"}
    expected = {n: m.classify(np.stack([m.pixels(f) for f in sent])) for n, m in models.items()}
    for r in by_seq:  # each result was computed by the version it names
        assert abs(r.confidence - expected[r.model_version][r.seq].confidence) < 1e-4, r
    assert gw.metrics.value("edge_model_swaps", outcome="ok") == 1
    assert gw.edge.model_version == 2  # the corrupt file kept v2 running
    assert gw.metrics.value("edge_errors") == 0


def test_a_bad_replacement_keeps_the_running_model(tmp_path, broker, topics, start_gateway):
    v1, _ = write_versions(tmp_path)
    gw = start_gateway(broker.url, topics, cloud=CloudConfig(enabled=False),
                       edge=EdgeConfig(model=str(v1)))
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"garbage" * 100)
    running = gw.edge
    assert not gw.swap_edge_model(str(bad))
    assert not gw.swap_edge_model(str(tmp_path / "missing.tflite"))
    assert gw.edge is running
    assert gw.metrics.value("edge_model_swaps", outcome="refused") == 2
    assert gw.metrics.value("edge_model_swaps", outcome="ok") == 0
