"""The shipped site-broker snippet parses, takes authenticated clients, and has Nagle
off; a stock mosquitto is measured as adding Nagle delays, and the gateway says so."""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgecascade.probe import measure_nagle

from ..cli.conftest import Cli, gateway_toml
from .conftest import DEPLOY

STOCK = "listener {port} 127.0.0.1\nallow_anonymous true\n"


def snippet_for_test(tmp_path: Path) -> str:
    """The snippet with only its listener and password file pointed at this test."""
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "gateway", "s3cret"],
                   check=True, capture_output=True)
    text = (DEPLOY / "mosquitto" / "edgecascade.conf").read_text()
    assert "\nlistener 1883\n" in text and "password_file /etc/mosquitto/passwd" in text
    text = text.replace("\nlistener 1883\n", "\nlistener {port} 127.0.0.1\n")
    text = text.replace("/etc/mosquitto/passwd", str(passwd))
    return text + "persistence_location {dir}/\n"


def test_snippet_broker_has_nagle_off(tmp_path: Path, mosquitto_from) -> None:
    text = (DEPLOY / "mosquitto" / "edgecascade.conf").read_text()
    for line in ("set_tcp_nodelay true", "persistence true", "max_queued_messages",
                 "max_inflight_messages", "allow_anonymous false"):
        assert f"\n{line}" in text, line
    settings = mosquitto_from(snippet_for_test(tmp_path), username="gateway",
                              password="s3cret")
    reading = measure_nagle(settings, "test-snippet")
    assert not reading.suspect, reading


def test_stock_mosquitto_is_measured_and_the_gateway_warns(tmp_path: Path,
                                                            mosquitto_from) -> None:
    settings = mosquitto_from(STOCK)
    reading = measure_nagle(settings, "test-stock")
    assert reading.suspect, reading  # ~40 ms (delayed ACK) against a ~0.1 ms round trip
    gateway = Cli("gateway", "--config", str(gateway_toml(tmp_path, settings.url)))
    try:
        line = gateway.wait_for("set_tcp_nodelay true")
        assert "Nagle" in line and '"level":"warning"' in line
        gateway.wait_for("gateway started")
    finally:
        gateway.signal()
        code, _, err = gateway.finish()
    assert code == 0, err


def test_no_warning_on_a_tuned_broker(tmp_path: Path, broker) -> None:
    gateway = Cli("gateway", "--config", str(gateway_toml(tmp_path, broker.url)))
    gateway.wait_for("gateway started")
    gateway.signal()
    code, _, err = gateway.finish()
    assert code == 0 and "set_tcp_nodelay" not in err, err


def test_devices_refused_by_the_broker_is_an_error(tmp_path: Path, mosquitto_from) -> None:
    from ..cli.conftest import one_line_error, run_cli

    settings = mosquitto_from(snippet_for_test(tmp_path), username="gateway",
                              password="s3cret")
    out = run_cli("devices", "--broker", settings.url, "--count", "2", "--duration", "1")
    assert out.returncode == 1
    assert "no device connected" in one_line_error(out.stderr)
    ok = run_cli("devices", "--broker", settings.url, "--count", "2", "--rate", "5",
                 "--duration", "1", "--username", "gateway", "--password", "s3cret")
    assert ok.returncode == 0, ok.stderr
