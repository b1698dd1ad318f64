"""The cloud worker on ONNX Runtime (real mosquitto, real onnxruntime CPU build): the
same answers as LiteRT, the backend on /metrics and in the check, and the refusal of a
GPU provider this machine does not have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecascade.cloud.config import ModelConfig
from edgecascade.cloud.model import classifier_loader, load_classifier
from edgecascade.cloud.worker import build_worker
from tests.cloud.helpers import (
    CLOUD_MODEL,
    config_dict,
    make_config,
    make_request,
    sample_images,
    to_toml,
)

pytest.importorskip("onnxruntime")

FALLBACK = {"runtime": "onnxruntime", "providers": ["tensorrt", "cuda"],
            "allow_cpu_fallback": True}


def test_worker_check_refuses_a_missing_gpu_in_one_line_and_names_the_fallback(
        tmp_path: Path, topics) -> None:
    def check(model: dict) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "w.toml"
        path.write_text(to_toml(config_dict("mqtt://127.0.0.1:1", topics, model=model)))
        return subprocess.run([sys.executable, "-m", "edgecascade", "cloud-worker",
                               "--config", str(path), "--check"], capture_output=True,
                              text=True, timeout=120)

    refused = check({"runtime": "onnxruntime", "providers": ["cuda"]})
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "model.providers" in refused.stderr and "'cuda'" in refused.stderr
    ok = check(FALLBACK)
    assert ok.returncode == 0, ok.stderr
    assert "mnist-cloud v2" in ok.stdout and "backend=onnxruntime provider=cpu" in ok.stdout


def test_onnxruntime_worker_gives_litert_answers_and_shows_its_backend(
        broker, topics, requester_factory) -> None:
    config = make_config(broker.url, topics, model=FALLBACK)
    worker = build_worker(config)
    worker.start()
    try:
        assert worker.classifier.info.provider == "cpu" and worker.classifier.info.fallback
        images, labels = sample_images(30)
        req = requester_factory(broker.host, broker.port, topics)
        requests = [make_request("gw1", images[i:i + 10], first_seq=i) for i in range(0, 30, 10)]
        for r in requests:
            req.send(r)
        got = req.wait([r.correlation_id for r in requests])
        lite = load_classifier(str(CLOUD_MODEL)).predict(images)
        for r in requests:
            resp = got[r.correlation_id]
            assert resp.status == "ok" and (resp.model_id, resp.model_version) == \
                ("mnist-cloud", 2)
            for a in resp.items:
                assert a.label == int(np.argmax(lite[a.seq]))
                assert abs(a.confidence - float(lite[a.seq].max())) < 1e-4
        m = worker.metrics
        assert m.value("ec_cloud_model_backend_info", backend="onnxruntime", provider="cpu",
                       fallback="true", precision="fp32",
                       device=worker.classifier.info.device) == 1
    finally:
        worker.stop()


def test_model_section_reads_the_runtime_keys(topics, tmp_path: Path) -> None:
    from edgecascade.cloud.config import ConfigError

    cfg = make_config("mqtt://h:1883", topics, model={**FALLBACK, "fp16": True,
                                                      "engine_cache_dir": "engines"})
    s = cfg.model.runtime_settings()
    assert (s.runtime, s.providers, s.allow_cpu_fallback, s.fp16) == \
        ("onnxruntime", ("tensorrt", "cuda"), True, True)
    assert s.cache_dir.endswith("engines")
    with pytest.raises(ConfigError) as info:
        make_config("mqtt://h:1883", topics, model={"runtime": "tf", "providers": ["gpu"]})
    assert "model.runtime" in str(info.value) and "model.providers[0]" in str(info.value)
    loader = classifier_loader(ModelConfig(path=str(CLOUD_MODEL), runtime="onnxruntime"))
    assert loader(str(CLOUD_MODEL), 1).info.backend == "onnxruntime"
