"""Swapping the cloud model at run time: a real worker on real mosquitto with the real
LiteRT models, a continuous stream of requests while the ``[model] path`` file is replaced
by the next version and then by a corrupt file.

The next version is an honest one: a different model file of the same task and input shape
(the repo's int8 edge model) registered as the cloud model's next version in a registry
next to the configured file, where ``ModelRunner`` looks a file's id and version up.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from edgecascade.cloud.model import load_classifier
from edgecascade.models.registry import sha256_file
from edgecascade.protocol import CloudResponse, decode
from tests.cloud.helpers import CLOUD_MODEL, REPO, frame_of, make_request, sample_images

EDGE_MODEL = REPO / "models" / "mnist-edge.tflite"


def write_versions(folder: Path) -> tuple[Path, Path, int]:
    """The cloud model (its registered version n) and a next one (n + 1), registered."""
    doc = json.loads((REPO / "models" / "registry.json").read_text())
    entry = next(m for m in doc["models"] if m["id"] == "mnist-cloud")
    old, new = folder / "cloud-old.tflite", folder / "cloud-new.tflite"
    shutil.copyfile(CLOUD_MODEL, old)
    shutil.copyfile(EDGE_MODEL, new)
    n = int(entry["version"])
    doc["models"] = [{**entry, "version": v, "file": p.name, "sha256": sha256_file(p),
                      "size": p.stat().st_size} for v, p in ((n, old), (n + 1, new))]
    (folder / "registry.json").write_text(json.dumps(doc))
    return old, new, n


def replace_file(source: Path | bytes, target: Path) -> None:
    tmp = target.with_suffix(".new")
    if isinstance(source, bytes):
        tmp.write_bytes(source)
    else:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


class Stream:
    """Sends one-frame requests until stopped, at most ``ahead`` unanswered."""

    def __init__(self, requester, pictures: np.ndarray, ahead: int = 8) -> None:
        self.requester, self.pictures, self.ahead = requester, pictures, ahead
        self.sent: list[tuple[str, int]] = []  # (correlation id, picture index), in order
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def answered(self) -> int:
        return len(self.requester.responses)

    def _run(self) -> None:
        n = 0
        while not self.stopped.is_set():
            self.requester.wait_for(lambda n=n: self.answered() >= n - self.ahead, 60)
            index = n % len(self.pictures)
            req = make_request("gw1", self.pictures[index : index + 1],
                               cid=uuid.uuid4().hex[:16], first_seq=n)
            self.requester.send(req)
            self.sent.append((req.correlation_id, index))
            n += 1

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(60)


def wait_until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_cloud_model_swaps_without_dropping_a_request(tmp_path, broker, topics,
                                                      worker_factory, requester_factory):
    old, new, n = write_versions(tmp_path)
    live = tmp_path / "cloud.tflite"
    shutil.copyfile(old, live)
    imgs, _ = sample_images(200)
    models = {n: load_classifier(str(old)), n + 1: load_classifier(str(new))}
    probs = {v: m.predict(np.stack([m.to_pixels(frame_of(i)) for i in imgs]))
             for v, m in models.items()}
    differ = [i for i in range(len(imgs))
              if abs(float(probs[n][i].max()) - float(probs[n + 1][i].max())) > 1e-3][:40]
    assert len(differ) >= 10
    pictures = imgs[differ]
    expected = {v: p[differ] for v, p in probs.items()}
    worker = worker_factory(broker, topics, model={"path": str(live)})
    assert worker.classifier.model_version == n
    requester = requester_factory(broker.host, broker.port, topics)

    def versions() -> set[int]:
        return {decode(CloudResponse, r[0]).model_version
                for r in list(requester.responses.values())}

    stream = Stream(requester, pictures)
    try:
        requester.wait_for(lambda: stream.answered() >= 20, 60)
        replace_file(new, live)
        wait_until(lambda: n + 1 in versions())
        at = stream.answered()
        requester.wait_for(lambda: stream.answered() >= at + 20, 60)
        replace_file(b"\x00not a model\x00" * 64, live)
        wait_until(lambda: worker.metrics.value("ec_cloud_model_swaps_total",
                                                outcome="refused") == 1)
        at = stream.answered()
        requester.wait_for(lambda: stream.answered() >= at + 20, 60)
    finally:
        stream.close()
    got = requester.wait([cid for cid, _ in stream.sent], 60)
    assert all(len(requester.responses[cid]) == 1 for cid, _ in stream.sent)
    named = []
    for cid, index in stream.sent:
        resp = got[cid]
        assert resp.status == "ok" and resp.model_id == "mnist-cloud", resp
        row = expected[resp.model_version][index]  # computed by the version it names
        assert resp.items[0].label == int(np.argmax(row))
        assert abs(resp.items[0].confidence - float(row.max())) < 1e-4
        named.append(resp.model_version)
    assert named == sorted(named) and named[0] == n and named[-1] == n + 1, named
    assert worker.metrics.value("ec_cloud_model_swaps_total", outcome="ok") == 1
    assert worker.classifier.model_version == n + 1  # the corrupt file kept it


def test_a_bad_cloud_model_keeps_the_running_one(tmp_path, broker, topics,
                                                 worker_factory):
    old, _, n = write_versions(tmp_path)
    worker = worker_factory(broker, topics, model={"path": str(old)})
    (tmp_path / "bad.tflite").write_bytes(b"garbage" * 100)
    running = worker.classifier
    assert not worker.swap_model(str(tmp_path / "bad.tflite"))
    assert not worker.swap_model(str(REPO / "models" / "har" / "har-cloud.tflite"))
    assert worker.classifier is running
    assert worker.metrics.value("ec_cloud_model_swaps_total", outcome="refused") == 2
