"""The edge model on ONNX Runtime, and what runs it shown everywhere an operator looks:
``gateway --check``, /metrics, ``edgecascade status`` and the dashboard (real mosquitto,
real gateway, real onnxruntime CPU build, real headless chromium).

This machine has no CUDA: asking for it must refuse in one line, and with
``allow_cpu_fallback = true`` the gateway must start and say ``provider=cpu``."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from edgecascade.gateway.config import EdgeConfig
from edgecascade.gateway.status import read_http, render, summarize
from edgecascade.models.registry import MODELS_DIR
from edgecascade.protocol import Result
from tests.dashboards.test_browser import browser  # noqa: F401 - the headless chromium fixture
from tests.gateway.support import EDGE_MODEL, report
from tests.models.gpu import requires_cuda
from tests.support import publish

pytest.importorskip("onnxruntime")

CUDA_WITH_FALLBACK = EdgeConfig(model=str(EDGE_MODEL), runtime="onnxruntime",
                                providers=("cuda",), allow_cpu_fallback=True)


def check(tmp_path: Path, edge: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "gw.toml"
    config.write_text(f'gateway_id = "gw1"\n[broker]\nurl = "mqtt://127.0.0.1:1"\n'
                      f'[storage]\nstate_dir = "state"\n[http]\nport = 0\n'
                      f'[edge]\nmodel = "{MODELS_DIR / "mnist-edge.tflite"}"\n{edge}')
    return subprocess.run([sys.executable, "-m", "edgecascade", "gateway", "--config",
                           str(config), "--check"], capture_output=True, text=True,
                          timeout=120)


def test_check_refuses_cuda_that_is_not_here_in_one_line_and_allows_the_fallback(
        tmp_path: Path) -> None:
    refused = check(tmp_path, 'runtime = "onnxruntime"\nproviders = ["cuda"]\n')
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "edge.providers" in lines[0] and "'cuda'" in lines[0] and "not active" in lines[0]
    ok = check(tmp_path, 'runtime = "onnxruntime"\nproviders = ["cuda"]\n'
                         'allow_cpu_fallback = true\n')
    assert ok.returncode == 0, ok.stderr
    assert "backend=onnxruntime provider=cpu" in ok.stdout and "fallback" in ok.stdout
    lite = check(tmp_path, "")
    assert lite.returncode == 0 and "backend=litert provider=xnnpack" in lite.stdout
    bad = check(tmp_path, 'runtime = "litert"\nproviders = ["cuda"]\n')
    assert bad.returncode == 2 and "LiteRT has no CUDA" in bad.stderr


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def test_fallback_gateway_answers_and_reports_provider_cpu_in_metrics_status_and_page(
        broker, topics, start_gateway, responder, results, browser) -> None:  # noqa: F811
    from selenium.webdriver.support.ui import WebDriverWait

    gw = start_gateway(broker.url, topics, edge=CUDA_WITH_FALLBACK)
    assert gw.edge is not None and gw.edge.info.provider == "cpu" and gw.edge.info.fallback
    assert gw.batcher is not None and gw.batcher.max_batch == 16  # the CPU default
    publish(broker.host, broker.port, [(topics.device_report("cam1"),
                                        encode_report(i)) for i in range(6)])
    results.wait_for(6, 30)
    got = [r for r in results.decoded(Result) if isinstance(r, Result)]
    assert {r.tier for r in got} >= {"edge"} and all(r.model_id in ("mnist-edge", "mnist-cloud")
                                                   for r in got if r.tier != "device")
    text = metrics_text(gw.http_port)
    line = next(x for x in text.splitlines() if x.startswith("ec_gateway_edge_backend_info{"))
    for label in ('backend="onnxruntime"', 'provider="cpu"', 'fallback="true"',
                  'precision="fp32"'):
        assert label in line, line
    status = summarize(*read_http(f"http://127.0.0.1:{gw.http_port}", 5))
    assert status.edge_backend["provider"] == "cpu"
    assert "backend=onnxruntime provider=cpu" in render(status)
    assert "CPU FALLBACK" in render(status)
    browser.get(f"http://127.0.0.1:{gw.http_port}/")
    WebDriverWait(browser, 20).until(
        lambda d: d.find_element("id", "edge-provider").text == "cpu (fallback)")
    assert browser.find_element("id", "edge-backend").text == "onnxruntime fp32"


def encode_report(seq: int) -> bytes:
    from edgecascade.protocol import encode

    return encode(report("cam1", seq, confident=False, image=seq))


def onnx_versions(folder: Path) -> tuple[Path, Path]:
    """``edge-v1.onnx`` (the mnist-edge twin) and ``edge-v2.onnx`` (another ONNX file of
    the same input, the cloud twin) registered as mnist-edge v1 and v2 beside them."""
    import json
    import shutil

    from edgecascade.models.registry import load_registry, sha256_file

    twin = load_registry().onnx[0]
    v1, v2 = folder / "edge-v1.onnx", folder / "edge-v2.onnx"
    shutil.copyfile(MODELS_DIR / "mnist-edge.onnx", v1)
    shutil.copyfile(MODELS_DIR / "mnist-cloud.onnx", v2)
    doc = load_registry().to_json()
    doc["models"] = [{**twin.to_json(), "version": n, "file": p.name, "sha256": sha256_file(p),
                      "size": p.stat().st_size} for n, p in ((1, v1), (2, v2))]
    (folder / "registry.json").write_text(json.dumps(doc))
    return v1, v2


def test_onnx_edge_model_hot_swaps_and_refuses_a_damaged_file(
        tmp_path: Path, broker, topics, start_gateway, responder, results) -> None:
    v1, v2 = onnx_versions(tmp_path)
    gw = start_gateway(broker.url, topics, edge=EdgeConfig(model=str(v1), runtime="onnxruntime"))
    assert gw.edge is not None and (gw.edge.model_id, gw.edge.model_version) == ("mnist-edge", 1)
    assert gw.edge.info.backend == "onnxruntime"
    assert gw.edge_swapper.swap(str(v2))
    assert gw.edge.model_version == 2 and gw.edge.info.backend == "onnxruntime"
    assert gw.metrics.value("edge_model_swaps", outcome="ok") == 1
    publish(broker.host, broker.port, [(topics.device_report("cam1"), encode_report(i))
                                       for i in range(4)])
    results.wait_for(4, 30)
    edge = [r for r in results.decoded(Result) if isinstance(r, Result) and r.tier == "edge"]
    assert edge and all((r.model_id, r.model_version) == ("mnist-edge", 2) for r in edge)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(v2.read_bytes()[: len(v2.read_bytes()) // 2])
    assert not gw.edge_swapper.swap(str(bad))
    assert gw.edge.model_version == 2  # the running model kept
    assert gw.metrics.value("edge_model_swaps", outcome="refused") == 1


def test_start_refuses_a_gpu_that_is_not_active_in_one_line(broker, tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(f'gateway_id = "gw1"\n[broker]\nurl = "{broker.url}"\n'
                      f'[storage]\nstate_dir = "state"\n[http]\nport = 0\n'
                      f'[edge]\nmodel = "{EDGE_MODEL}"\nruntime = "onnxruntime"\n'
                      f'providers = ["tensorrt", "cuda"]\n')
    run = subprocess.run([sys.executable, "-m", "edgecascade", "gateway", "--config",
                          str(config)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    refusal = [line for line in run.stderr.splitlines() if line.startswith("gateway:")]
    assert len(refusal) == 1 and "cannot start" in refusal[0]
    assert "'tensorrt' is not active" in refusal[0] and "allow_cpu_fallback" in refusal[0]


@requires_cuda
def test_on_a_cuda_machine_the_edge_runs_on_the_gpu_with_gpu_batches(
        broker, topics, start_gateway, responder, results) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime here has no CUDAExecutionProvider (install the gpu extra)")
    gw = start_gateway(broker.url, topics, edge=EdgeConfig(
        model=str(EDGE_MODEL), runtime="onnxruntime", providers=("cuda",)))
    assert gw.edge is not None and gw.edge.info.provider == "cuda"
    assert not gw.edge.info.fallback and gw.edge.info.device
    assert gw.batcher is not None and gw.batcher.max_batch == 64  # the GPU default
    publish(broker.host, broker.port, [(topics.device_report("cam1"), encode_report(i))
                                       for i in range(6)])
    results.wait_for(6, 30)
    assert 'provider="cuda"' in metrics_text(gw.http_port)
