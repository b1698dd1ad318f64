"""The serial bridge over a pty: resync after noise, bad frames counted, unplug/replug."""

from __future__ import annotations

import os
import time

import pytest

from edgecascade.emulator.core import DeviceCore
from edgecascade.emulator.model import device_thresholds
from edgecascade.emulator.serial_device import PtyPair
from edgecascade.gateway.serial_bridge import SerialBridge
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import DeviceState, Report, TopicKind, decode, encode
from edgecascade.protocol.framing import encode_frame
from tests.emulator.helpers import wait_until
from tests.support import Collector


def payloads(source, device_id: str, n: int) -> list[bytes]:
    core = DeviceCore(device_id, source, 3, device_thresholds())
    return [core.next_report(1_763_760_000_000 + i).payload for i in range(n)]


@pytest.fixture
def bridge_on(broker, topics, tmp_path):
    made: list[tuple[SerialBridge, PtyPair]] = []

    def start(link: bool = False) -> tuple[SerialBridge, PtyPair]:
        pty = PtyPair(tmp_path / "ttyEC0" if link else None).plug()
        bridge = SerialBridge(pty.path, topics, settings=BrokerSettings(broker.url),
                              min_backoff=0.05, max_backoff=0.5).start()
        wait_until(bridge.port_open.is_set, what="bridge opened the port")
        made.append((bridge, pty))
        return bridge, pty

    yield start
    for bridge, pty in made:
        bridge.stop()
        pty.unplug()


def test_bridge_resyncs_after_noise_and_counts_bad_frames(broker, topics, source, bridge_on):
    col = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_REPORT)])
    bridge, pty = bridge_on()
    good = payloads(source, "usb-1", 6)
    frames = [encode_frame(p) for p in good]
    corrupt = bytearray(frames[0])
    corrupt[3] ^= 0x55  # CRC catches it
    stream = (b"boot log text\r\n\x00" + frames[0] + b"\xff" * 50 + b"\x00" + frames[1]
              + bytes(corrupt) + frames[2] + frames[3][:10] + b"\x00" + frames[3]
              + encode_frame(b"\x81\x00\x01")  # a valid frame, not a report
              + encode_frame(encode(DeviceState("usb-1", True, 1)))  # nor this
              + b"\x00\x00" + frames[4] + frames[5])
    for i in range(0, len(stream), 37):  # arrives in odd chunks
        os.write(pty.master, stream[i : i + 37])
    col.wait_for(6, timeout=20)
    wait_until(lambda: bridge.stats.bad_reports == 2, what="bad reports counted")
    col.close()
    assert sorted(m.payload for m in col.messages) == sorted(good)  # the exact bytes
    assert {m.topic for m in col.messages} == {topics.device_report("usb-1")}
    # the boot text, the 0xff noise, the corrupt copy, the cut copy of frame 3
    assert bridge.stats.bad_frames == 4
    assert sum(bridge.stats.rejections.values()) == 2


def test_bridge_survives_unplug_and_replug(broker, topics, source, bridge_on):
    col = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_REPORT)])
    bridge, pty = bridge_on(link=True)
    first, second = payloads(source, "usb-2", 3), payloads(source, "usb-3", 3)
    os.write(pty.master, b"".join(encode_frame(p) for p in first)
             + encode_frame(second[0])[:7])  # unplugged mid-frame
    col.wait_for(3, timeout=20)
    pty.unplug()
    wait_until(lambda: bridge.stats.unplugs == 1 and not bridge.port_open.is_set(),
               what="bridge noticed the unplug")
    wait_until(lambda: bridge.stats.open_failures >= 1, what="bridge retrying")
    pty.plug()
    wait_until(bridge.port_open.is_set, what="bridge reopened the port")
    os.write(pty.master, b"".join(encode_frame(p) for p in second))
    col.wait_for(6, timeout=20)
    col.close()
    assert [decode(Report, m.payload).device_id for m in col.messages].count("usb-3") == 3
    assert bridge.stats.opens == 2 and bridge.stats.bad_frames == 1  # the cut frame


def test_serial_bridge_command(broker, topics, source, tmp_path, capsys):
    import threading

    from edgecascade.cli import main

    col = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_REPORT)])
    pty = PtyPair(tmp_path / "ttyUSB9").plug()
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(main([
        "serial-bridge", "--port", pty.path, "--broker", broker.url, "--prefix", topics.prefix,
        "--duration", "4"])))
    runner.start()
    try:
        # pyserial flushes what arrived before it opened the port: send until seen
        for p in payloads(source, "usb-4", 200):
            os.write(pty.master, encode_frame(p))
            if len(col.messages) >= 3:
                break
            time.sleep(0.05)
        col.wait_for(3, timeout=20)
    finally:
        runner.join(30)
        pty.unplug()
        col.close()
    assert codes == [0]
    assert "published=" in capsys.readouterr().out
