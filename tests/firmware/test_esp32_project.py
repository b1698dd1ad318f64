"""The ESP-IDF project files agree with each other (no ESP-IDF needed to check these).

The build on v5.x and v6.x depends on the component manifest's version rule for
espressif/mqtt; the flash layout on the shipped partition table that sdkconfig.defaults
names; the report options on Kconfig symbols the app-check builds with.
"""

from __future__ import annotations

import re

import yaml

from edgecascade.emulator.partitions import load

from .cbuild import FIRMWARE, make

ESP32 = FIRMWARE / "esp32"


def _sdkconfig() -> dict[str, str]:
    text = (ESP32 / "sdkconfig.defaults").read_text()
    return dict(re.findall(r"^(CONFIG_\w+)=(.*)$", text, re.MULTILINE))


def test_mqtt_comes_from_the_registry_only_on_idf6() -> None:
    deps = yaml.safe_load((ESP32 / "main" / "idf_component.yml").read_text())["dependencies"]
    assert deps["idf"] == ">=5.1"
    mqtt = deps["espressif/mqtt"]
    assert mqtt["rules"] == [{"if": "idf_version >=6.0"}]
    assert mqtt["version"].startswith("^1.")
    cmake = (ESP32 / "main" / "CMakeLists.txt").read_text()
    requires = re.search(r"REQUIRES ([^)]*)\)", cmake)
    assert requires and "mqtt" in requires.group(1).split()
    assert " driver " not in f" {requires.group(1)} "  # deprecated in v6: chosen by version


def test_sdkconfig_uses_the_shipped_partition_table() -> None:
    conf = _sdkconfig()
    assert conf["CONFIG_PARTITION_TABLE_CUSTOM"] == "y"
    table = ESP32 / conf["CONFIG_PARTITION_TABLE_CUSTOM_FILENAME"].strip('"')
    parts = load(table)
    flash_mb = next(int(k.removeprefix("CONFIG_ESPTOOLPY_FLASHSIZE_").removesuffix("MB"))
                    for k, v in conf.items()
                    if k.startswith("CONFIG_ESPTOOLPY_FLASHSIZE_") and v == "y")
    assert max(p.end for p in parts) <= flash_mb * 1024 * 1024
    assert int(conf["CONFIG_PARTITION_TABLE_OFFSET"], 0) + 0x1000 <= min(p.offset for p in parts)
    assert {p.label for p in parts} >= {"nvs", "otadata", "ota_0", "ota_1", "model_0", "model_1"}


def test_report_options_are_kconfig_symbols_the_app_uses() -> None:
    kconfig = (ESP32 / "main" / "Kconfig.projbuild").read_text()
    app = (ESP32 / "main" / "app_main.c").read_text()
    for sym in ("EC_DEADLINE_MS", "EC_PRIORITY", "EC_PRIVATE"):
        assert f"config {sym}\n" in kconfig
        assert f"CONFIG_{sym}" in app
    assert "ec_report_apply_opts(&r," in app
    proc = make("app-check")  # every Kconfig variant and model_runner.cc compile
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Kconfig variants OK" in proc.stdout and "model_runner.cc OK" in proc.stdout
