"""The container image and the compose stack, built here and brought up once:
broker + gateway + worker + a 10-device fleet; results seen on the broker (a subscriber
on the result topic, run in the stack's network) and through the gateway's status;
``docker stop`` (SIGTERM) drains every service to exit 0.

Images come from ``scripts/docker-images`` (cached by an inputs hash: a no-op when
``scripts/test`` has just built them): the project image on a registry base or a local
debootstrap one, the broker eclipse-mosquitto or Debian's mosquitto imported. Skipped,
with the reason, only where no Docker engine or compose answers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from .conftest import DEPLOY, ROOT

pytestmark = pytest.mark.slow

# Run inside the gateway's container: count results on the broker by tier.
SUBSCRIBER = """
import sys, collections, json, time, paho.mqtt.client as mqtt
from edgecascade.protocol import Result, TopicKind, Topics, decode
tiers = collections.Counter()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
c.on_message = lambda c, u, m: tiers.update([decode(Result, m.payload).tier])
c.connect("broker", 1883)
c.subscribe(Topics().filter(TopicKind.RESULT))
c.loop_start()
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline and not (tiers["device"] and tiers["cloud"]):
    time.sleep(0.2)
c.loop_stop()
print(json.dumps(tiers))
"""


def docker(*args: str, timeout: float = 600, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                         env=env)
    if check:
        assert out.returncode == 0, f"docker {args}: {out.stdout[-2000:]}{out.stderr[-2000:]}"
    return out


def compose_command() -> list[str]:
    """``docker compose`` where the plugin is installed, else Debian's docker-compose 1.29."""
    if docker("compose", "version", check=False, timeout=30).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("needs docker compose or docker-compose (Debian: apt-get install docker-compose)")


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    if shutil.which("docker") is None:
        pytest.skip("needs docker (Debian: apt-get install docker.io; scripts/test does)")
    if docker("info", check=False, timeout=30).returncode != 0:
        pytest.skip("the Docker engine does not answer (scripts/test starts dockerd)")
    built = subprocess.run(["bash", str(ROOT / "scripts" / "docker-images"), "all"],
                           capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, f"scripts/docker-images: {built.stdout}{built.stderr}"
    broker = "eclipse-mosquitto:2" if "eclipse-mosquitto:2" in built.stdout \
        else "edgecascade-mosquitto:local"
    return {"EC_IMAGE": "edgecascade:local", "EC_BROKER_IMAGE": broker}


def test_compose_stack(images: dict[str, str]) -> None:
    env = {**os.environ, **images}
    project = f"ec{uuid.uuid4().hex[:8]}"
    compose = [*compose_command(), "-p", project, "-f", str(DEPLOY / "compose.yaml")]

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*compose, *args], capture_output=True, text=True, env=env,
                              timeout=timeout)

    try:
        up = run("up", "-d", "--no-build")
        assert up.returncode == 0, up.stderr
        deadline = time.monotonic() + 180
        doc: dict = {}
        while time.monotonic() < deadline:  # bounded wait for the first cloud answers
            out = run("exec", "-T", "gateway", "edgecascade", "status", "--url",
                      "http://127.0.0.1:9108", "--broker", "mqtt://broker:1883", "--json")
            if out.returncode == 0:
                doc = json.loads(out.stdout)
                if doc["devices_online"] == 10 and doc["results_by_tier"].get("cloud"):
                    break
            time.sleep(1)
        assert doc.get("ready") and doc["devices_online"] == 10, doc
        assert doc["results_by_tier"].get("device") and doc["results_by_tier"].get("cloud"), doc
        seen = run("exec", "-T", "gateway", "python", "-c", SUBSCRIBER, "60", timeout=120)
        assert seen.returncode == 0, seen.stderr
        tiers = json.loads(seen.stdout.strip().splitlines()[-1])
        assert tiers.get("device") and tiers.get("cloud"), tiers  # on the broker itself
        stop = run("stop")
        assert stop.returncode == 0, stop.stderr
        ids = run("ps", "-q").stdout.split()
        states = json.loads(docker("inspect", *ids).stdout)
        exits = {c["Config"]["Labels"]["com.docker.compose.service"]: c["State"]["ExitCode"]
                 for c in states}
        assert exits == {"broker": 0, "gateway": 0, "worker": 0, "devices": 0}, exits
        logs = run("logs", "--no-color", "devices").stdout
        summary = next(x for x in logs.splitlines() if "devices=10 made=" in x)
        made = summary.split("made=")[1].split()[0]
        assert f"acked={made} " in summary, summary
    finally:
        run("down", "-v", timeout=120)
