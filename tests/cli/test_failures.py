"""Each failure mode an operator meets, run as a subprocess against real brokers and
missing ports: one line on stderr, the documented exit code, no traceback, and a
prompt clean stop on SIGTERM/SIGINT in every state."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from edgecascade.tools.broker import free_port

from .conftest import gateway_toml, one_line_error, run_cli, worker_toml


def dead_url() -> str:
    return f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there


# -- unreachable broker: one line, exit 1, no retries unless asked -------------------------
@pytest.mark.parametrize("command", ["gateway", "cloud-worker", "devices"])
def test_unreachable_broker_is_one_line_and_exit_1(command: str, tmp_path: Path) -> None:
    url = dead_url()
    args = {
        "gateway": ["gateway", "--config", str(gateway_toml(tmp_path, url))],
        "cloud-worker": ["cloud-worker", "--config", str(worker_toml(tmp_path, url))],
        "devices": ["devices", "--broker", url, "--count", "1"],
    }[command]
    out = run_cli(*args, timeout=60)
    assert out.returncode == 1, out.stderr
    line = one_line_error(out.stderr)
    assert url in line and "connection refused" in line and "--wait" in line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("command", ["gateway", "cloud-worker", "devices", "serial-bridge"])
def test_stop_while_waiting_for_the_broker(command: str, sig: int, tmp_path: Path,
                                           cli) -> None:
    url = dead_url()
    args = {
        "gateway": ["gateway", "--config", str(gateway_toml(tmp_path, url))],
        "cloud-worker": ["cloud-worker", "--config", str(worker_toml(tmp_path, url))],
        "devices": ["devices", "--broker", url, "--count", "1"],
        "serial-bridge": ["serial-bridge", "--port", "/dev/ttyNOPE", "--broker", url],
    }[command]
    proc = cli(*args, "--wait")
    proc.wait_for("not reachable, retrying")
    proc.signal(sig)
    code, _, err = proc.finish()
    assert code == 0, err
    assert "Traceback" not in err


def test_serial_bridge_missing_port(broker) -> None:
    out = run_cli("serial-bridge", "--port", "/dev/ttyNOPE", "--broker", broker.url)
    assert out.returncode == 1
    line = one_line_error(out.stderr)
    assert "/dev/ttyNOPE" in line and "No such file or directory" in line


# -- gateway resources: one line each ------------------------------------------------------
def test_corrupt_model_file(tmp_path: Path, broker) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    config = gateway_toml(tmp_path, broker.url, model=str(bad))
    check = run_cli("gateway", "--config", str(config), "--check")
    assert check.returncode == 2
    assert "edge.model" in one_line_error(check.stderr) and "not a TFLite" in check.stderr
    run = run_cli("gateway", "--config", str(config))
    assert run.returncode == 1
    assert "not a TFLite" in one_line_error(run.stderr)


def test_http_port_in_use(tmp_path: Path, broker) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = gateway_toml(tmp_path, broker.url, http_port=port)
        for extra in (["--check"], []):
            out = run_cli("gateway", "--config", str(config), *extra)
            assert out.returncode == 2, out.stderr
            line = one_line_error(out.stderr)
            assert "observe.http_port" in line and "already in use" in line


def test_state_dir_that_cannot_be_created(tmp_path: Path, broker) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    config = gateway_toml(tmp_path, broker.url, state_dir=str(tmp_path / "a-file" / "state"))
    for extra in (["--check"], []):
        out = run_cli("gateway", "--config", str(config), *extra)
        assert out.returncode == 2, out.stderr
        line = one_line_error(out.stderr)
        assert "storage.state_dir" in line and "not a directory" in line


def test_corrupt_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    config = gateway_toml(tmp_path, f"mqtts://127.0.0.1:{free_port()}",
                          site_extra=f'ca_file = "{ca}"')
    for extra in (["--check"], []):
        out = run_cli("gateway", "--config", str(config), *extra)
        assert out.returncode == 2, out.stderr
        line = one_line_error(out.stderr)
        assert "site.ca_file" in line and "not valid PEM" in line


# -- stopping a running service ------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_gateway_stops_cleanly(sig: int, tmp_path: Path, broker, cli) -> None:
    proc = cli("gateway", "--config", str(gateway_toml(tmp_path, broker.url)))
    proc.wait_for("gateway started")
    proc.signal(sig)
    code, _, err = proc.finish()
    assert code == 0 and "Traceback" not in err, err
    assert "gateway stopped" in err


def test_gateway_stops_cleanly_while_its_broker_is_down(tmp_path: Path, broker, cli) -> None:
    proc = cli("gateway", "--config", str(gateway_toml(tmp_path, broker.url)))
    proc.wait_for("gateway started")
    broker.kill()
    proc.wait_for("site link down")
    proc.signal(signal.SIGTERM)
    code, _, err = proc.finish()
    assert code == 0 and "Traceback" not in err, err


def test_worker_stops_cleanly(tmp_path: Path, broker, cli) -> None:
    proc = cli("cloud-worker", "--config", str(worker_toml(tmp_path, broker.url)))
    proc.wait_for("worker started")
    proc.signal(signal.SIGTERM)
    code, _, err = proc.finish()
    assert code == 0 and "Traceback" not in err, err
    assert "worker stopped" in err
