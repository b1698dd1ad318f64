"""Serial mode over a pty: framed reports out, the provisioning line protocol in."""

from __future__ import annotations

import json
import os
import time

import pytest
import serial

from edgecascade.emulator.ledger import GroundTruth
from edgecascade.emulator.provision import Provisioner, ProvisionError, provision
from edgecascade.emulator.provisioning import Provisioning, Settings, check_setting
from edgecascade.emulator.serial_device import PtyPair, SerialDevice
from edgecascade.protocol import Report, decode
from edgecascade.protocol.framing import Deframer
from tests.emulator.helpers import wait_until


@pytest.fixture
def line(tmp_path, source):
    """An emulated board on a pty; yields (device, host port)."""
    pty = PtyPair().plug()
    device = SerialDevice(pty.master, source, rate=20, storage=tmp_path / "nvs.json",
                          ledger=GroundTruth()).start()
    port = serial.Serial(pty.path, 115200, timeout=0.1)
    device.pty = pty
    yield device, port
    port.close()
    device.stop()
    pty.unplug()


def read_reports(port: serial.Serial, count: int, timeout: float = 20.0) -> list[Report]:
    deframer = Deframer()
    out: list[Report] = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        for payload in deframer.feed(port.read(512)):
            out.append(decode(Report, payload))
    assert len(out) >= count, f"got {len(out)} reports"
    return out


def test_device_writes_framed_reports(line):
    device, port = line
    reports = read_reports(port, 10)
    assert {r.device_id for r in reports} == {"emu-serial"}
    seqs = [r.seq for r in reports]
    assert seqs == sorted(seqs)
    wait_until(lambda: all(device.ledger.get(r.key) is not None for r in reports),
               what="ground truth recorded")


def test_provision_commits_and_takes_effect_after_reboot(line, tmp_path):
    device, port = line
    read_reports(port, 2)  # frames are on the line before HELLO: the host skips them
    values = {"device_id": "board-7", "broker_url": "mqtt://10.0.0.2:1883",
              "wifi_ssid": "lab net", "wifi_pass": "s3cret-pass", "conf_threshold": "0.8",
              "margin_threshold": "0.1", "complexity_limit": "0.3"}
    outcome = provision(port, values, reboot=True)
    assert outcome.ok, outcome.errors
    assert outcome.verified["wifi_pass"] == "***" and outcome.verified["device_id"] == "board-7"
    stored = json.loads((tmp_path / "nvs.json").read_text())
    assert stored["device_id"] == "board-7" and stored["wifi_pass"] == "s3cret-pass"
    wait_until(lambda: device.stats.boots == 2, what="reboot")
    later = read_reports(port, 30)
    assert later[-1].device_id == "board-7"
    assert device.core.thresholds.device_confidence == pytest.approx(0.8)


def test_out_of_range_threshold_is_rejected_and_nothing_committed(line, tmp_path):
    device, port = line
    outcome = provision(port, {"device_id": "board-8", "conf_threshold": "1.5",
                               "margin_threshold": "abc"})
    assert not outcome.ok and not outcome.committed
    assert [(e.key, e.why) for e in outcome.errors] == [
        ("conf_threshold", "out_of_range"), ("margin_threshold", "bad_value")]
    assert not (tmp_path / "nvs.json").exists()


def test_garbage_lines_are_answered_and_ignored(line):
    device, port = line
    host = Provisioner(port)
    assert host.hello()[1] is None
    # host -> device garbage: answered with an error, the session goes on
    assert host.exchange(b"\xff\xfe rubbish\n").words == ["-", "unknown_command"]
    assert host.request("EC FOO").words == ["-", "unknown_command"]
    assert host.exchange(b"EC SET device_id " + b"x" * 200 + b"\n").words == [
        "-", "line_too_long"]
    assert host.request("EC GET device_id").words == ["-"]  # the long line changed nothing
    # device -> host garbage (a boot log line, a stray frame): skipped, not mistaken
    before = host.skipped
    os.write(device.pty.master, b"I (312) wifi: sta start\n\x05abc\x00")
    assert host.get("device_id") == "-"
    assert host.skipped == before + 2
    host.set("device_id", "ok-1")
    assert host.get("device_id") == "ok-1"
    with pytest.raises(ProvisionError) as err:
        host.set("device_id", "bad id!")
    assert (err.value.key, err.value.why) == ("device_id", "bad_value")
    host.exit()


def test_reports_pause_during_provisioning(line):
    device, port = line
    host = Provisioner(port)
    host.hello()
    made = device.stats.made
    time.sleep(0.5)  # not a timing assertion: nothing may be made while paused
    assert device.stats.made == made
    host.exit()
    wait_until(lambda: device.stats.made > made, what="reports resume")


@pytest.mark.parametrize(("key", "value", "why"), [
    ("wifi_ssid", "", "bad_value"),
    ("wifi_ssid", "x" * 33, "too_long"),
    ("wifi_pass", "short", "bad_value"),
    ("wifi_pass", "", None),
    ("broker_url", "http://x", "bad_value"),
    ("broker_url", "mqtts://host:8883", None),
    ("device_id", "a" * 65, "too_long"),
    ("conf_threshold", "1.0000001", "out_of_range"),
    ("conf_threshold", "1", None),
    ("complexity_limit", "123456.5", None),
    ("margin_threshold", "-0.1", "bad_value"),
    ("margin_threshold", ".5", "bad_value"),
])
def test_setting_rules_match_the_firmware(key, value, why):
    assert check_setting(key, value) == why


def test_idle_timeout_resumes_reports():
    p = Provisioning(Settings(), "1.0", lambda s: True)
    assert p.feed(b"EC HELLO\n", now=100.0) == [b"EC OK 1.0 -\n"]
    assert p.is_paused(129.0) and not p.is_paused(130.0)
    assert p.feed(b"\r\n", now=131.0) == []  # an empty line gets no answer


def test_host_gives_up_when_the_device_is_silent():
    master, slave = os.openpty()
    try:
        port = serial.Serial(os.ttyname(slave), timeout=0.05)
        with pytest.raises(ProvisionError, match="no answer"):
            Provisioner(port, timeout=0.3).hello()
        port.close()
    finally:
        os.close(master)
        os.close(slave)
