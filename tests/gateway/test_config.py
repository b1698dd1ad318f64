from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgecascade.gateway.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]


def problems(raw: dict, env: dict | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env=env or {}, base_dir=REPO)
    return dict(info.value.problems)


def test_example_config_is_valid_and_uses_calibrated_thresholds():
    cfg = load_config(REPO / "gateway.example.toml", env={})
    assert cfg.gateway_id == "gw1" and cfg.site.port == 1883
    assert cfg.edge.model.endswith("mnist-edge.tflite")
    assert cfg.thresholds.edge_temperature != 1.0  # read from models/thresholds.json
    assert cfg.cloud_broker is None and cfg.shared_group is None


def test_every_error_is_reported_with_its_path():
    found = problems({
        "gateway_id": "bad id!",
        "prefix": "nope",
        "colour": "blue",
        "site": {"url": "http://x", "keepalive": "10"},
        "edge": {"max_batch": 0, "model": "missing.tflite", "bogus": 1},
        "cloud": {"max_publish_per_s": 500, "deadline_ms": 1.5},
        "thresholds": {"device_confidence": 1.5},
        "devices": {"allowlist": ["ok", "not ok"]},
        "storage": "x",
    })
    for path in ("gateway_id", "prefix", "colour", "site.url", "site.keepalive",
                 "edge.max_batch", "edge.model", "edge.bogus", "cloud.max_publish_per_s",
                 "cloud.deadline_ms", "thresholds.device_confidence", "devices.allowlist[1]",
                 "storage"):
        assert path in found, (path, found)


def test_env_overrides_secrets_and_missing_cert_files_are_reported():
    found = problems({"cloud_broker": {"url": "mqtts://iot.example:8883"}},
                     env={"EC_CLOUD_CERT_FILE": "/nope/cert.pem", "EC_CLOUD_KEY_FILE": "/nope/k"})
    assert "cloud_broker.cert_file" in found and "cloud_broker.key_file" in found
    cfg = parse_config({"site": {"url": "mqtt://h:1884", "password": "in-file"}},
                       env={"EC_SITE_PASSWORD": "from-env", "EC_SITE_USERNAME": "u"})
    assert (cfg.site.username, cfg.site.password, cfg.site.port) == ("u", "from-env", 1884)


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "g.toml"
    bad.write_text("gateway_id = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "none.toml")


def test_cli_check_reports_errors_and_exits_2(tmp_path):
    bad = tmp_path / "g.toml"
    bad.write_text('[edge]\nmax_batch = -1\n[cloud]\nmax_items = 1000\n')
    out = subprocess.run([sys.executable, "-m", "edgecascade.cli", "gateway", "--config", str(bad),
                          "--check"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "edge.max_batch" in out.stderr and "cloud.max_items" in out.stderr
    ok = subprocess.run([sys.executable, "-m", "edgecascade.cli", "gateway", "--config",
                         str(REPO / "gateway.example.toml"), "--check"], capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr


def test_cloud_connection_client_id_defaults_to_the_gateway_id():
    cfg = parse_config({"gateway_id": "thing-1", "cloud_broker": {"url": "mqtts://x:8883"}},
                       env={})
    assert cfg.cloud_session_client_id == "thing-1"  # AWS IoT: client id == thing name
    assert cfg.session_client_id == "ec-gw-thing-1"  # the site session stays distinct
    cfg = parse_config({"gateway_id": "gw1", "cloud_broker": {
        "url": "mqtts://x:8883", "client_id": "edge-thing"}}, env={})
    assert cfg.cloud_session_client_id == "edge-thing"
    assert cfg.cloud_broker is not None and cfg.cloud_broker.url == "mqtts://x:8883"
    assert cfg.cloud.max_items == 64


def test_cloud_client_id_is_checked():
    found = problems({"client_id": "same", "cloud_broker": {
        "url": "mqtt://127.0.0.1:1883", "client_id": "same", "colour": 1}})
    assert "also the site connection's client id" in found["cloud_broker.client_id"]
    assert "cloud_broker.colour" in found
    found = problems({"cloud_broker": {"client_id": 5}})
    assert "expected str" in found["cloud_broker.client_id"]
    found = problems({"cloud_broker": {"client_id": "x" * 200}})
    assert "bytes" in found["cloud_broker.client_id"]


def test_a_config_built_in_code_gets_the_calibrated_thresholds_file() -> None:
    """Library users (the demo) pass thresholds_file without TOML: the gateway reads it."""
    from edgecascade.gateway.config import GatewayConfig
    from edgecascade.gateway.service import Gateway
    from edgecascade.models.cascade import DEFAULT_THRESHOLDS, load_settings

    calibrated = load_settings(DEFAULT_THRESHOLDS).thresholds
    gw = Gateway(GatewayConfig(thresholds_file=str(DEFAULT_THRESHOLDS)))
    assert gw.cfg.thresholds.device_confidence == calibrated.device_conf
    assert gw.cfg.thresholds.edge_confidence == calibrated.edge_conf
    assert GatewayConfig().thresholds.edge_confidence != calibrated.edge_conf
