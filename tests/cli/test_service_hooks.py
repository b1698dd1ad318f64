"""Behaviour that lives in the gateway shell (``gateway/service.py``, ``gateway/site.py``):
a stop with the site broker down returns cleanly, and a start that timed out without a
site broker does not claim the gateway is up."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edgecascade.gateway.config import load_config
from edgecascade.gateway.service import Gateway
from edgecascade.tools.broker import free_port

from .conftest import gateway_toml


def test_stop_with_the_site_broker_down_does_not_raise(tmp_path: Path, broker) -> None:
    gateway = Gateway(load_config(gateway_toml(tmp_path, broker.url))).start(timeout=20)
    assert gateway.ready
    broker.kill()
    deadline_ok = gateway.site is not None
    while deadline_ok and gateway.site is not None and gateway.site.is_connected():
        deadline_ok = not gateway.stopped.wait(0.05)
    gateway.stop()  # today: RuntimeError from info.is_published()
    assert gateway.stopped.is_set()


def test_start_without_a_site_broker_does_not_claim_started(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(gateway_toml(tmp_path, f"mqtt://127.0.0.1:{free_port()}"))
    with caplog.at_level(logging.INFO, logger="edgecascade.gateway"):
        gateway = Gateway(config).start(timeout=0.2)
        try:
            started = [r.getMessage() for r in caplog.records
                       if r.getMessage().startswith("gateway started")]
        finally:
            gateway.stop(timeout=2)
    assert started and all("not ready" in m for m in started), started
