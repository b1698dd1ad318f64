"""Worker configuration: the example file, every error with its path, env overrides."""

from __future__ import annotations

import pytest

from edgecascade.cli import main
from edgecascade.cloud.config import ConfigError, load_config, parse_config
from edgecascade.protocol import Topics
from tests.cloud.helpers import CLOUD_MODEL, REPO, config_dict, to_toml

EXAMPLE = REPO / "cloud.example.toml"


def test_example_file_is_valid(tmp_path):
    text = EXAMPLE.read_text().replace('"models/mnist-cloud.tflite"', f'"{CLOUD_MODEL}"')
    path = tmp_path / "cloud.toml"
    path.write_text(text)
    cfg = load_config(path, env={})
    assert cfg.worker_id == "wk1" and cfg.shared_group == "ec-workers"
    assert cfg.model.max_batch == 64 and cfg.limits.publish_per_second == 100
    assert main(["cloud-worker", "--config", str(path), "--check"]) == 0


def test_relative_paths_resolve_against_the_file(tmp_path):
    (tmp_path / "m.tflite").write_bytes(CLOUD_MODEL.read_bytes())
    doc = config_dict("mqtt://127.0.0.1:1", Topics())
    doc["model"]["path"] = "m.tflite"
    (tmp_path / "c.toml").write_text(to_toml(doc))
    assert load_config(tmp_path / "c.toml", env={}).model.path == str(tmp_path / "m.tflite")


def test_every_problem_is_reported_with_its_path():
    doc = {
        "version": 2, "worker_id": "bad id", "prefix": "nope", "typo": 1,
        "broker": {"url": "http://x", "keepalive": 1, "colour": "red"},
        "model": {"path": "/does/not/exist.tflite", "max_batch": 0, "max_delay_ms": "5"},
        "limits": {"publish_per_second": 500},
        "http": {"port": True},
    }
    with pytest.raises(ConfigError) as err:
        parse_config(doc, env={})
    paths = {p for p, _ in err.value.problems}
    assert paths >= {"version", "worker_id", "prefix", "typo", "broker.url", "broker.keepalive",
                     "broker.colour", "model.path", "model.max_batch", "model.max_delay_ms",
                     "limits.publish_per_second", "http.port"}


def test_missing_model_and_broker_are_reported():
    with pytest.raises(ConfigError) as err:
        parse_config({"worker_id": "w"}, env={})
    paths = {p for p, _ in err.value.problems}
    assert {"model", "broker.url"} <= paths


def test_aws_discovery_needs_a_certificate():
    doc = config_dict("mqtt://x:1", Topics())
    del doc["broker"]["url"]
    doc["aws"] = {"region": "eu-west-1"}
    with pytest.raises(ConfigError) as err:
        parse_config(doc, env={})
    assert [p for p, _ in err.value.problems] == ["broker.cert_file"]


def test_environment_overrides_secrets(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c")
    key.write_text("k")
    doc = config_dict("mqtts://x:8883", Topics())
    doc["broker"]["password"] = "from-file"
    cfg = parse_config(doc, env={"EC_BROKER_PASSWORD": "from-env",
                                 "EC_BROKER_CERT_FILE": str(cert),
                                 "EC_BROKER_KEY_FILE": str(key)})
    assert cfg.broker.password == "from-env"
    assert (cfg.broker.cert_file, cfg.broker.key_file) == (str(cert), str(key))
    assert "from-env" not in repr(cfg)
    old = parse_config(doc, env={"EC_WORKER_PASSWORD": "old-name",  # still read
                                 "EC_WORKER_CERT_FILE": str(cert),
                                 "EC_WORKER_KEY_FILE": str(key)})
    assert old.broker.password == "old-name"


def test_unreadable_and_invalid_toml_are_config_errors(tmp_path, capsys):
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as err:
        load_config(missing)
    assert [p for p, _ in err.value.problems] == [str(missing)]  # never an empty path
    assert main(["cloud-worker", "--config", str(missing)]) == 2
    assert f"{missing}: cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("worker_id = \n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert "not valid TOML" in str(err.value)
    assert main(["cloud-worker", "--config", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_shared_group_empty_means_plain_subscription():
    doc = config_dict("mqtt://x:1", Topics(), shared_group="")
    assert parse_config(doc, env={}).shared_group == ""
    with pytest.raises(ConfigError):
        parse_config(config_dict("mqtt://x:1", Topics(), shared_group="a/b"), env={})


def test_check_loads_the_model_and_reports_a_broken_one(tmp_path, capsys):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"not a model at all")
    doc = config_dict("mqtt://127.0.0.1:1", Topics(), model_path=bad)
    (tmp_path / "c.toml").write_text(to_toml(doc))
    assert main(["cloud-worker", "--config", str(tmp_path / "c.toml"), "--check"]) == 2
    assert "model.path" in capsys.readouterr().err


def test_http_section_and_the_old_metrics_table():
    cfg = parse_config(config_dict("mqtt://x:1", Topics()), env={})
    assert (cfg.http.enabled, cfg.http.port) == (False, 9109)  # off unless asked; not 9108
    cfg = parse_config(config_dict("mqtt://x:1", Topics(), http={"enabled": True}), env={})
    assert (cfg.http.enabled, cfg.http.port, cfg.metrics.port) == (True, 9109, 9109)
    for port, enabled in ((0, False), (9200, True)):
        with pytest.warns(FutureWarning, match=r"\[metrics\] is deprecated"):
            old = parse_config(config_dict("mqtt://x:1", Topics(), metrics={"port": port}),
                               env={})
        assert old.http.enabled is enabled and old.metrics.port == port
    with pytest.warns(FutureWarning), pytest.raises(ConfigError) as err:
        parse_config(config_dict("mqtt://x:1", Topics(), metrics={"port": -1}), env={})
    assert [p for p, _ in err.value.problems] == ["metrics.port"]
