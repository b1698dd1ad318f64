"""Device credentials: a site's device file provisioned over serial; secrets never shown."""

from __future__ import annotations

import json

import pytest

from edgecascade.cli import build_parser, main
from edgecascade.emulator.provision import pem_body, read_back, site_values
from edgecascade.emulator.provisioning import Settings
from edgecascade.emulator.serial_device import PtyPair, SerialDevice, load_settings
from tests.emulator.conftest import source  # noqa: F401  (fixture)


def test_site_values_carry_the_device_identity(site_folder) -> None:
    values = site_values(site_folder.creds_path("devA"))
    creds = site_folder.credentials("devA")
    assert values["device_id"] == values["mqtt_user"] == "devA"
    assert values["broker_url"].startswith("mqtts://") and values["mqtt_pass"] == creds.password
    assert 200 < len(values["ca_cert"]) < 1536
    assert values["ca_cert"] == pem_body(site_folder.ca_crt.read_text())


def test_a_stored_ca_comes_back_whole_and_a_bad_one_is_refused(site_folder) -> None:
    ca = site_values(site_folder.creds_path("devA"))["ca_cert"]
    s = Settings()
    assert s.restore("ca_cert", ca) and s.get("ca_cert") == ca
    assert not s.restore("ca_cert", ca + "!") and s.get("ca_cert") == ca
    assert not s.restore("ca_cert", "A" * 1537) and s.get("ca_cert") == ca
    assert read_back("ca_cert", ca) == str(len(ca)) and read_back("mqtt_pass", "x") == "***"


def test_provision_device_with_site_creds(site_folder, tmp_path, source, capsys) -> None:  # noqa: F811
    pty = PtyPair().plug()
    nvs = tmp_path / "nvs.json"
    device = SerialDevice(pty.master, source, rate=5, storage=nvs).start()
    creds = site_folder.credentials("devA")
    try:
        code = main(["provision-device", "--port", pty.path,
                     "--site-creds", str(site_folder.creds_path("devA"))])
        out = capsys.readouterr()
        assert code == 0, out
    finally:
        device.stop()
        pty.unplug()
    assert creds.password not in out.out + out.err
    assert "mqtt_pass = ***" in out.out
    stored = load_settings(nvs)
    assert stored.get("mqtt_user") == "devA" and stored.get("mqtt_pass") == creds.password
    assert stored.get("ca_cert") == pem_body(site_folder.ca_crt.read_text())
    assert json.loads(nvs.read_text())["broker_url"] == creds.url


def test_no_secret_in_help(site_folder, capsys, monkeypatch) -> None:
    creds = site_folder.credentials("devA")
    monkeypatch.setenv("EC_WIFI_PASS", "wifi-secret-123")
    for argv in (["site", "--help"], ["site", "add-device", "--help"],
                 ["provision-device", "--help"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)
    text = capsys.readouterr().out
    assert "site add-device" in text or "add-device" in text
    assert creds.password not in text and "wifi-secret-123" not in text
