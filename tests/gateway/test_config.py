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
        "broker": {"url": "http://x", "keepalive": "10"},
        "edge": {"max_batch": 0, "model": "missing.tflite", "bogus": 1},
        "cloud": {"max_publish_per_s": 500, "deadline_ms": 1.5},
        "thresholds": {"device_confidence": 1.5},
        "devices": {"allowlist": ["ok", "not ok"]},
        "storage": "x",
    })
    for path in ("gateway_id", "prefix", "colour", "broker.url", "broker.keepalive",
                 "edge.max_batch", "edge.model", "edge.bogus", "cloud.max_publish_per_s",
                 "cloud.deadline_ms", "thresholds.device_confidence", "devices.allowlist[1]",
                 "storage"):
        assert path in found, (path, found)


def test_env_overrides_secrets_and_missing_cert_files_are_reported():
    found = problems({"cloud_broker": {"url": "mqtts://iot.example:8883"}},
                     env={"EC_CLOUD_BROKER_CERT_FILE": "/nope/cert.pem",
                          "EC_CLOUD_BROKER_KEY_FILE": "/nope/k"})
    assert "cloud_broker.cert_file" in found and "cloud_broker.key_file" in found
    cfg = parse_config({"broker": {"url": "mqtt://h:1884", "password": "in-file"}},
                       env={"EC_BROKER_PASSWORD": "from-env", "EC_BROKER_USERNAME": "u"})
    assert (cfg.broker.username, cfg.broker.password, cfg.broker.port) == \
        ("u", "from-env", 1884)
    # the old variable names are still read; the new ones win
    cfg = parse_config({"cloud_broker": {"url": "mqtt://c:1883"}},
                       env={"EC_SITE_PASSWORD": "old", "EC_CLOUD_USERNAME": "old-u",
                            "EC_CLOUD_BROKER_USERNAME": "new-u"})
    assert cfg.broker.password == "old"
    assert cfg.cloud_broker is not None and cfg.cloud_broker.username == "new-u"


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "g.toml"
    bad.write_text("gateway_id = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    missing = tmp_path / "none.toml"
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_config(missing)
    assert [p for p, _ in info.value.problems] == [str(missing)]  # the path, never empty
    assert info.value.source == str(missing)


def test_cli_check_reports_errors_and_exits_2(tmp_path):
    bad = tmp_path / "g.toml"
    bad.write_text('[edge]\nmax_batch = -1\n[cloud]\nmax_items = 1000\n')
    out = subprocess.run([sys.executable, "-m", "edgecascade.cli", "gateway", "--config", str(bad),
                          "--check"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "edge.max_batch" in out.stderr and "cloud.max_items" in out.stderr
    assert str(bad) in out.stderr
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
    found = problems({"broker": {"client_id": "same"}, "cloud_broker": {
        "url": "mqtt://127.0.0.1:1883", "client_id": "same", "colour": 1}})
    assert "also the site connection's client id" in found["cloud_broker.client_id"]
    assert "cloud_broker.colour" in found
    found = problems({"cloud_broker": {"client_id": 5}})
    assert "expected str" in found["cloud_broker.client_id"]
    found = problems({"cloud_broker": {"client_id": "x" * 200}})
    assert "bytes" in found["cloud_broker.client_id"]


def test_a_config_built_in_code_takes_resolved_thresholds_and_the_gateway_reads_no_file():
    """One reader, one place: parse_config resolves; the Gateway uses what it is given."""
    from edgecascade.config import Problems
    from edgecascade.gateway.config import GatewayConfig
    from edgecascade.gateway.service import Gateway
    from edgecascade.models.cascade import DEFAULT_THRESHOLDS, resolve_thresholds

    with pytest.raises(TypeError):
        GatewayConfig(**{"thresholds_file": str(DEFAULT_THRESHOLDS)})  # the field is gone
    found = Problems()
    th = resolve_thresholds(found, file=DEFAULT_THRESHOLDS, table={"edge_confidence": 0.95})
    assert found.items == []
    gw = Gateway(GatewayConfig(thresholds=th))
    assert gw.cfg.thresholds is th and th.edge_confidence == 0.95


def test_old_section_names_are_read_with_a_warning():
    old = {"site": {"url": "mqtt://h:1884", "keepalive": 5}, "client_id": "gw-session",
           "observe": {"http_port": -1, "metrics_interval_s": 2.0}}
    with pytest.warns(FutureWarning) as caught:
        cfg = parse_config(old, env={})
    said = " ".join(str(w.message) for w in caught)
    assert "[site]" in said and "client_id" in said and "[observe]" in said
    assert (cfg.broker.port, cfg.session_client_id) == (1884, "gw-session")
    with pytest.warns(FutureWarning):  # the new variable names work under the old table
        cfg2 = parse_config(old, env={"EC_BROKER_PASSWORD": "p"})
    assert cfg2.broker.password == "p"
    assert (cfg.http.enabled, cfg.metrics_interval_s) == (False, 2.0)
    assert cfg.observe.http_port == -1 and cfg.site is cfg.broker  # old attribute names
    new = parse_config({"broker": {"url": "mqtt://h:1884", "keepalive": 5,
                                   "client_id": "gw-session"},
                        "http": {"enabled": False}, "metrics_interval_s": 2.0}, env={})
    assert new == cfg
    with pytest.warns(FutureWarning):  # problems keep the name the file uses
        found = problems({"site": {"url": "http://x"}, "observe": {"http_port": -7}})
    assert "site.url" in found and "observe.http_port" in found
    assert "also present" in problems({"site": {}, "broker": {}})["site"]


def test_http_section_and_distinct_default_ports():
    from edgecascade.cloud.config import WorkerConfig
    from edgecascade.config import GATEWAY_HTTP_PORT, WORKER_HTTP_PORT

    cfg = parse_config({}, env={})
    assert (cfg.http.enabled, cfg.http.host, cfg.http.port) == (True, "127.0.0.1", 9108)
    assert GATEWAY_HTTP_PORT != WORKER_HTTP_PORT
    assert WorkerConfig.__dataclass_fields__["http"].default.port == WORKER_HTTP_PORT
    found = problems({"http": {"port": 70000, "hots": "x"}})
    assert "must be 0..65535" in found["http.port"] and "http.hots" in found
