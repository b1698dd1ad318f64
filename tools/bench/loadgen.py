"""Load generation for the gateway benchmarks, outside the process under test (no ``run``
here, so the runner skips it).

* :func:`spawn_source`: the report publisher in its own interpreter, so that its cost
  (paho, ~30-50 us per QoS 1 publish) is not charged to, nor limited by, the process
  that sinks the results; its own ceiling is measured by publishing to no subscriber.
* :func:`broker_ceiling`: the broker with the C clients alone (``mosquitto_pub -l`` into
  ``mosquitto_sub``), the physical reference for every relay and gateway figure.
* :func:`instrumented_gateway`: the real gateway with paho's receipt and manual-ack
  times recorded, for a receipt -> PUBACK latency that does not depend on the gateway's
  insides.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from edgecascade.protocol import Topics, encode
from edgecascade.tools.bench.gateway_harness import MosquittoBroker, make_reports, new_client


def instrumented_gateway(stats: str, argv: list[str]) -> int:
    """The real gateway, with paho's receive and manual ack timed from the outside.

    paho stamps each incoming message on receipt (``MQTTMessage.timestamp``, monotonic);
    the gateway acknowledges a report by hand once it is durable and answered
    (``Client.ack`` sends the PUBACK). The difference is the gateway's internal latency,
    however the gateway is built inside (per report or group commit).
    """
    import atexit
    import json

    import paho.mqtt.client as pm

    from edgecascade.gateway.cli import main as gateway_main

    received: dict[tuple[int, int], float] = {}
    latencies: list[float] = []
    on_message, ack = pm.Client._handle_on_message, pm.Client.ack

    def timed_on_message(self: pm.Client, message: pm.MQTTMessage) -> None:
        if message.qos > 0:
            received[(id(self), message.mid)] = message.timestamp
        on_message(self, message)

    def timed_ack(self: pm.Client, mid: int, qos: int) -> Any:
        out = ack(self, mid, qos)
        t0 = received.pop((id(self), mid), None)
        if t0 is not None:
            latencies.append((time.monotonic() - t0) * 1000)
        return out

    pm.Client._handle_on_message = timed_on_message  # type: ignore[method-assign]
    pm.Client.ack = timed_ack  # type: ignore[method-assign]
    atexit.register(lambda: Path(stats).write_text(json.dumps(latencies)))
    return gateway_main(argv)


def spawn_source(b: MosquittoBroker, topics: Topics, n: int, rate: float | None,
                 out: Path, *, confident: bool = True) -> subprocess.Popen[str]:
    """The load generator in its own process: ``n`` reports (seq 0..n-1 of device d1),
    paced at ``rate``/s or as a burst; writes its send times (monotonic, by seq) and its
    own achieved rate to ``out`` as JSON when done."""
    return subprocess.Popen(
        [sys.executable, "-m", "edgecascade.tools.bench.loadgen", "source", b.url,
         topics.prefix, str(n), str(rate or 0), str(out), "1" if confident else "0"],
        stdout=subprocess.PIPE, text=True)


def source_result(proc: subprocess.Popen[str], out: Path, timeout: float) -> dict[str, Any]:
    import json

    proc.wait(timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator exited {proc.returncode}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def source_main(url: str, prefix: str, n: int, rate: float, out: str, confident: bool) -> None:
    import json

    host, port = url.split("//")[1].split(":")
    topics = Topics(prefix)
    payloads = [(topics.device_report(r.device_id), encode(r))
                for r in make_reports(n, confident=confident)]
    client = new_client("loadgen")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, int(port))
    client.loop_start()
    sent = [0.0] * n
    start = time.monotonic()
    infos = []
    for i, (topic, data) in enumerate(payloads):
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sent[i] = time.monotonic()
        infos.append(client.publish(topic, data, qos=1))
    for info in infos:
        info.wait_for_publish(120)
    done = time.monotonic()
    client.loop_stop()
    client.disconnect()
    Path(out).write_text(json.dumps({"sent": sent, "rate": n / (done - sent[0])}))


def broker_ceiling(b: MosquittoBroker, n: int, payload_bytes: int = 54) -> float:
    """Messages/s through this broker with the C clients alone, QoS 1 both ways:
    ``mosquitto_pub -l`` (one message per stdin line) into ``mosquitto_sub -C n``."""
    import shutil

    if shutil.which("mosquitto_pub") is None or shutil.which("mosquitto_sub") is None:
        raise RuntimeError("mosquitto_pub/mosquitto_sub not found: apt install mosquitto-clients")
    topic = f"ceiling/{uuid.uuid4().hex[:8]}"
    common = ["-h", b.host, "-p", str(b.port), "-t", topic, "-q", "1"]
    sub = subprocess.Popen(["mosquitto_sub", *common, "-C", str(n)], stdout=subprocess.DEVNULL)
    time.sleep(0.5)  # mosquitto_sub prints nothing when subscribed
    lines = ("x" * (payload_bytes - 1) + "\n") * n
    start = time.monotonic()
    subprocess.run(["mosquitto_pub", *common, "-l"], input=lines.encode(), check=True)
    sub.wait(120)
    return n / (time.monotonic() - start)


if __name__ == "__main__":
    if sys.argv[1:2] == ["gateway"]:
        sys.exit(instrumented_gateway(sys.argv[2], sys.argv[3:]))
    elif sys.argv[1:2] == ["source"]:
        source_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]),
                    sys.argv[6], sys.argv[7] == "1")
