"""Behaviour that lives in the gateway shell (``gateway/service.py``), which this branch
does not restructure. The CLI already works around both (it catches the stop error and
probes the broker before start); these tests pin the shell-level fixes the lead applies
to the new shell, and turn green (then drop ``xfail``) when they are in."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edgecascade.gateway.config import load_config
from edgecascade.gateway.service import Gateway
from edgecascade.tools.broker import free_port

from .conftest import gateway_toml


@pytest.mark.xfail(strict=True, reason="Gateway.stop waits on is_published() of a publish "
                   "that failed (RuntimeError: Message publish failed) when the site broker "
                   "is down; fix: wait only when info.rc == MQTT_ERR_SUCCESS")
def test_stop_with_the_site_broker_down_does_not_raise(tmp_path: Path, broker) -> None:
    gateway = Gateway(load_config(gateway_toml(tmp_path, broker.url))).start(timeout=20)
    assert gateway.ready
    broker.kill()
    deadline_ok = gateway.site is not None
    while deadline_ok and gateway.site is not None and gateway.site.is_connected():
        deadline_ok = not gateway._stopped.wait(0.05)
    gateway.stop()  # today: RuntimeError from info.is_published()
    assert gateway._stopped.is_set()


@pytest.mark.xfail(strict=True, reason="after the start timeout without a site broker the "
                   "gateway logs 'gateway started' as if it were up; fix: say it is not ready")
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
