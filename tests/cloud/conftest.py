"""Cloud fixtures: the real cloud model, workers on real brokers, moto in server mode."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgecascade.cloud.aws import broker_settings
from edgecascade.cloud.model import RunnerClassifier, load_classifier
from edgecascade.cloud.worker import CloudWorker
from edgecascade.tools.broker import free_port
from tests.cloud.helpers import CLOUD_MODEL, Requester, make_config

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


@pytest.fixture(scope="session")
def cloud_model() -> Path:
    if not CLOUD_MODEL.is_file():
        pytest.fail(f"{CLOUD_MODEL} missing: run `edgecascade models train` (issue 3)")
    return CLOUD_MODEL


@pytest.fixture
def classifier(cloud_model: Path) -> RunnerClassifier:
    return load_classifier(str(cloud_model))


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A real moto HTTP server on loopback (not an in-process mock)."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def requester_factory() -> Iterator[Callable[..., Requester]]:
    made: list[Requester] = []

    def factory(host: str, port: int, topics: Any, gateway_id: str = "gw1") -> Requester:
        r = Requester(host, port, topics, gateway_id)
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


@pytest.fixture
def worker_factory(cloud_model: Path) -> Iterator[Callable[..., CloudWorker]]:
    """In-process workers (each with its own interpreter); stopped at teardown."""
    made: list[CloudWorker] = []

    def factory(mqtt_broker: Any, topics: Any, *, start: bool = True, store: Any = None,
                classifier: Any = None, **kwargs: Any) -> CloudWorker:
        config = make_config(mqtt_broker.url, topics, **kwargs)
        worker = CloudWorker(config, classifier or load_classifier(str(cloud_model)),
                             broker_settings(config), store=store)
        made.append(worker)
        if start:
            worker.start()
        return worker

    yield factory
    for w in made:
        w.stop(timeout=10)


_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak tests of this folder run only when asked for (``-m soak``)."""
    if "soak" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="soak test: run with -m soak")
    for item in items:
        if "soak" in item.keywords and _HERE in item.path.resolve().parents:
            item.add_marker(skip)
