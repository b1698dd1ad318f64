"""The serial bridge carries reports of the site's size, not only one 28x28 frame:
a 96x96 camera frame (9 KB) crosses the pty and reaches the site broker intact."""

from __future__ import annotations

import os

import numpy as np

from edgecascade.emulator.serial_device import PtyPair
from edgecascade.gateway.serial_bridge import SerialBridge
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import Frame, Report, TopicKind, confidence_to_wire, decode, encode
from edgecascade.protocol.framing import encode_frame
from tests.emulator.helpers import wait_until
from tests.support import Collector


def test_a_96x96_frame_crosses_the_serial_bridge(broker, topics, tmp_path) -> None:
    col = Collector(broker.host, broker.port, [topics.filter(TopicKind.DEVICE_REPORT)])
    pty = PtyPair(None).plug()
    bridge = SerialBridge(pty.path, topics, settings=BrokerSettings(broker.url),
                          min_backoff=0.05, max_backoff=0.5).start()
    try:
        wait_until(bridge.port_open.is_set, what="bridge opened the port")
        pixels = np.random.default_rng(1).integers(-128, 128, 96 * 96).astype(np.int8)
        report = Report(device_id="cam-1", epoch=1, seq=1, ts_ms=1_700_000_000_000,
                        model_id="person-mcu", model_version=1, classes=(1, 0),
                        confidences=(confidence_to_wire(0.6), confidence_to_wire(0.4)),
                        frame=Frame(pixels.tobytes(), (96, 96, 1), "int8", 1 / 255, -128))
        data = encode_frame(encode(report))
        assert len(data) > 9000
        for i in range(0, len(data), 512):
            os.write(pty.master, data[i:i + 512])
        got = col.wait_for(1, timeout=20)
        assert decode(Report, got[0].payload) == report
    finally:
        bridge.stop()
        pty.unplug()
        col.close()
