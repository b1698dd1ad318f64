"""Ground-truth ledger files, and the ``devices`` / ``provision-device`` commands."""

from __future__ import annotations

import pytest

from edgecascade.cli import main
from edgecascade.emulator.ledger import GroundTruth
from edgecascade.emulator.serial_device import PtyPair, SerialDevice
from edgecascade.protocol import Result


def result(device: str, seq: int, label: int) -> Result:
    return Result(device, 1, seq, label, 0.9, "device", "m", 1, 1.0, 0.0, "confident", 0, "gw",
                  0)


@pytest.mark.parametrize("name", ["truth.db", "truth.csv"])
def test_ledger_round_trip_and_score(tmp_path, name):
    path = tmp_path / name
    ledger = GroundTruth(path, flush_every=3)
    for seq in range(5):
        ledger.record("d1", 1, seq, seq % 2, seq)
    ledger.close()
    loaded = GroundTruth.load(path)
    assert len(loaded) == 5 and loaded.get(("d1", 1, 4)).label == 0
    acc = loaded.score([result("d1", 0, 0), result("d1", 1, 0), result("d1", 1, 1),
                        result("zz", 0, 0)])
    assert (acc.joined, acc.correct, acc.unmatched) == (2, 2, 1)  # the correction counts


def test_devices_command(broker, topics, tmp_path, capsys):
    ledger = tmp_path / "truth.db"
    code = main(["devices", "--count", "3", "--rate", "5", "--duration", "2", "--broker",
                 broker.url, "--prefix", topics.prefix, "--ledger", str(ledger), "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"acked"' in out and len(GroundTruth.load(ledger)) > 0


def test_devices_command_bad_input():
    assert main(["devices", "--broker", "http://nope"]) == 2
    assert main(["devices", "--prefix", "no/good/prefix"]) == 2


def test_provision_device_command(tmp_path, source, capsys):
    pty = PtyPair().plug()
    device = SerialDevice(pty.master, source, rate=5, storage=tmp_path / "nvs.json").start()
    try:
        code = main(["provision-device", "--port", pty.path, "--device-id", "cam-9",
                     "--broker-url", "mqtt://gw.local:1883", "--wifi-ssid", "lab"])
        assert code == 0, capsys.readouterr()
        bad = main(["provision-device", "--port", pty.path, "--conf-threshold", "2"])
        assert bad == 1
        assert "out_of_range" in capsys.readouterr().err
    finally:
        device.stop()
        pty.unplug()


def test_model_and_frame_source_mismatch_is_a_clear_error(source):
    import numpy as np

    from edgecascade.emulator.model import EmulatorModelError, FrameSource

    images = np.zeros((4, 32, 32), dtype=np.uint8)
    with pytest.raises(EmulatorModelError, match="does not match frames"):
        FrameSource(source.path, images=images, labels=np.zeros(4, dtype=np.int64),
                    mean=np.zeros((32, 32), dtype=np.uint8))
    with pytest.raises(EmulatorModelError, match="missing"):
        FrameSource(source.path.with_name("nope.tflite"))
