"""Device fleet benchmark: N emulated devices at 1 report/s each on one local mosquitto.

    python -m edgecascade.tools.bench.devices_fleet [--quick] [--count N] [--seconds S]

Rows:
* delivered share: PUBACKed reports / reports made (target 1.0, nothing lost);
* CPU per report of this process (the whole fleet: inference memo, policy, encoding,
  ring, N MQTT sessions driven by selector threads) against a baseline measured in
  the same run: one bare paho client (``loop_start``) publishing the same payload
  bytes at QoS 1 at the same aggregate rate for the same time, PUBACKs counted;
* achieved report rate against the target N x 1 Hz.
CPU is ``time.process_time()`` (all threads of this process; the broker is not
counted). The fleet's answer memo is warmed first, so figures are steady state.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

from edgecascade.tools.bench.common import Row, print_rows

COMMAND = "python -m edgecascade.tools.bench.devices_fleet"


def _fleet_run(url: str, count: int, seconds: float) -> tuple[float, int, int, int, float]:
    """(cpu s, reports made in the timed window, made in all, acked in all, window s)."""
    from edgecascade.emulator.fleet import Fleet
    from edgecascade.emulator.model import FrameSource
    from edgecascade.mqtt import BrokerSettings
    from edgecascade.protocol import Topics

    source = FrameSource()
    for i in range(len(source)):
        source.answer(i)  # warm the memo: steady state, as after the first 1000 reports
    fleet = Fleet(BrokerSettings(url), Topics("bench/v1"), count, 1.0, source=source)
    fleet.start()
    if not fleet.wait(lambda s: s.connected == count, timeout=120):
        raise RuntimeError(f"only {fleet.stats.connected}/{count} devices connected")
    made0, cpu0, t0 = fleet.stats.made, time.process_time(), time.monotonic()
    time.sleep(seconds)
    stats = fleet.stop(drain_timeout=60)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    if stats.driver_errors:
        raise RuntimeError(f"{stats.driver_errors} driver errors")
    return cpu, stats.made - made0, stats.made, stats.acked, wall


def _baseline_payloads(n: int) -> list[bytes]:
    from edgecascade.emulator.core import DeviceCore
    from edgecascade.emulator.model import FrameSource, device_thresholds

    core = DeviceCore("emu-0000", FrameSource(), 1, device_thresholds())
    return [core.next_report(1_763_760_000_000 + i).payload for i in range(n)]


def _paho_run(host: str, port: int, rate: float, seconds: float,
              payloads: list[bytes]) -> tuple[float, int, int]:
    """(cpu seconds, published, acked): one paho client, QoS 1, paced at ``rate``/s."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    acked = 0
    lock = threading.Lock()
    connected = threading.Event()

    def on_publish(*_: object) -> None:
        nonlocal acked
        with lock:
            acked += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare-paho")
    client.on_publish = on_publish
    client.on_connect = lambda *a: connected.set()
    client.max_inflight_messages_set(1000)
    client.connect(host, port)
    client.loop_start()
    connected.wait(30)
    cpu0, t0 = time.process_time(), time.monotonic()
    sent = 0
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= seconds:
            break
        due = int(elapsed * rate)
        while sent < due:
            client.publish("bench/v1/dev/bare/report", payloads[sent % len(payloads)], qos=1)
            sent += 1
        time.sleep(0.005)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if acked >= sent:
                break
        time.sleep(0.01)
    cpu = time.process_time() - cpu0
    client.loop_stop()
    client.disconnect()
    return cpu, sent, acked


def run(quick: bool = False, count: int | None = None, seconds: float | None = None) -> list[Row]:
    from edgecascade.tools.broker import MosquittoBroker

    count = count or (200 if quick else 1000)
    seconds = seconds or (10.0 if quick else 30.0)
    cmd = COMMAND + (" --quick" if quick else "")
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp), persistence=False)
        broker.start()
        try:
            cpu, made, total, acked, wall = _fleet_run(broker.url, count, seconds)
            payloads = _baseline_payloads(1000)
            base_cpu, base_sent, base_acked = _paho_run(broker.host, broker.port, count,
                                                        seconds, payloads)
        finally:
            broker.stop()
    if base_acked < base_sent:
        raise RuntimeError(f"baseline lost reports: {base_acked}/{base_sent}")
    per_report = cpu / max(made, 1) * 1e6
    base_per_report = base_cpu / max(base_sent, 1) * 1e6
    return [
        Row(f"devices_fleet {count} devices @1 Hz, {seconds:g} s: delivered share "
            f"(acked {acked} / made {total})", acked / max(total, 1), 1.0, "share", cmd, "1.0"),
        Row(f"devices_fleet {count} devices: CPU per report, fleet vs bare paho "
            f"(1 client, same bytes, same rate)", per_report, base_per_report, "us", cmd),
        Row(f"devices_fleet {count} devices: achieved report rate vs target",
            made / wall, float(count), "reports/s", cmd, ">= 0.95 x target"),
    ]


if __name__ == "__main__":
    args = sys.argv[1:]
    n = int(args[args.index("--count") + 1]) if "--count" in args else None
    s = float(args[args.index("--seconds") + 1]) if "--seconds" in args else None
    print_rows(run(quick="--quick" in args, count=n, seconds=s))
