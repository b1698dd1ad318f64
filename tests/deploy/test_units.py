"""The systemd units: what a service needs is there, every command line parses with
our own parser, and ``systemd-analyze verify`` accepts them where it is installed."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgecascade.cli import build_parser

from .conftest import DEPLOY

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED = "/opt/edgecascade/venv/bin/edgecascade"


def unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def test_the_three_units_exist() -> None:
    names = {p.name for p in UNITS}
    assert names == {"edgecascade-gateway.service", "edgecascade-worker@.service",
                     "edgecascade-devices.service"}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_runs_as_a_service(path: Path) -> None:
    service = unit(path)["Service"]
    assert service["User"] == "edgecascade" and service["Restart"] == "on-failure"
    assert service["StateDirectory"].split()[0] == "edgecascade"  # /var/lib/edgecascade
    assert service["ConfigurationDirectory"] == "edgecascade"  # /etc/edgecascade
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) >= 30
    assert "--wait" in service["ExecStart"] and "--log-format json" in service["ExecStart"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_every_command_line_parses(path: Path) -> None:
    service = unit(path)["Service"]
    env = {"EC_BROKER": "mqtt://127.0.0.1:1883", "EC_DEVICES_ARGS": "--count 10 --rate 1"}
    for key in ("ExecStartPre", "ExecStart", "ExecStartPost"):
        if key not in service:
            continue
        line = service[key].replace("%i", "1")
        for name, value in env.items():
            line = line.replace("${" + name + "}", value).replace("$" + name, value)
        argv = shlex.split(line)
        assert argv[0] == INSTALLED
        args = build_parser().parse_args(argv[1:])
        assert args.func is not None
        if "--config" in argv:
            assert args.config.startswith("/etc/edgecascade/")


def test_gateway_readiness_goes_through_readyz() -> None:
    service = unit(DEPLOY / "systemd" / "edgecascade-gateway.service")["Service"]
    assert "status" in service["ExecStartPost"] and "--wait-ready" in service["ExecStartPost"]
    assert "--check" in service["ExecStartPre"]


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    # The one change: the installed path -> this interpreter's command, which exists.
    command = Path(sys.executable).parent / "edgecascade"
    assert command.exists()
    for path in UNITS:
        (tmp_path / path.name).write_text(path.read_text().replace(INSTALLED, str(command)))
    names = [p.name.replace("@.service", "@1.service") for p in UNITS]
    out = subprocess.run([analyze, "verify", *names], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
