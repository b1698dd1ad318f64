"""The container image and the compose stack, built here and brought up once:
broker + gateway + worker + a 10-device fleet; results seen through the gateway's
status; ``docker stop`` (SIGTERM) drains every service to exit 0.

Needs a Docker engine (skipped with the reason otherwise). Base images come from the
registry where it can be reached, else from ``deploy/docker-local-base.sh``."""

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

LOCAL_BASE = "edgecascade-base:bookworm"


def docker(*args: str, timeout: float = 600, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                         env=env)
    if check:
        assert out.returncode == 0, f"docker {args}: {out.stdout[-2000:]}{out.stderr[-2000:]}"
    return out


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        pytest.skip("needs docker and docker-compose (Debian: apt-get install docker.io "
                    "docker-compose; then start dockerd)")
    if docker("info", check=False, timeout=30).returncode != 0:
        pytest.skip("the Docker engine does not answer (start dockerd)")
    base = "python:3.11-slim-bookworm"
    if docker("image", "inspect", base, check=False).returncode != 0 and \
            docker("pull", base, check=False, timeout=120).returncode != 0:
        base = LOCAL_BASE
        if docker("image", "inspect", base, check=False).returncode != 0:
            if shutil.which("debootstrap") is None:
                pytest.skip("no registry and no debootstrap to make a local base image")
            subprocess.run(["bash", str(DEPLOY / "docker-local-base.sh"), base], check=True,
                           capture_output=True, timeout=900)
    docker("build", "--network", "host", "--build-arg", f"BASE={base}", "-f",
           str(DEPLOY / "Dockerfile"), "-t", "edgecascade:test", str(ROOT), timeout=1200)
    broker = "eclipse-mosquitto:2"
    if docker("image", "inspect", broker, check=False).returncode != 0 and \
            docker("pull", broker, check=False, timeout=120).returncode != 0:
        broker = "edgecascade-mosquitto:test"
        docker("build", "--network", "host", "--build-arg", f"BASE={base}", "-f",
               str(DEPLOY / "Dockerfile.mosquitto"), "-t", broker, str(DEPLOY))
    return {"EC_IMAGE": "edgecascade:test", "EC_BROKER_IMAGE": broker}


def test_compose_stack(images: dict[str, str]) -> None:
    env = {**os.environ, **images}
    project = f"ec{uuid.uuid4().hex[:8]}"
    compose = ["docker-compose", "-p", project, "-f", str(DEPLOY / "compose.yaml")]

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
        stop = run("stop")
        assert stop.returncode == 0, stop.stderr
        states = run("ps")
        for service in ("broker", "gateway", "worker", "devices"):
            line = next(x for x in states.stdout.splitlines() if f"_{service}_1" in x)
            assert "Exit 0" in line, states.stdout
        logs = run("logs", "--no-color", "devices").stdout
        summary = next(x for x in logs.splitlines() if "devices=10 made=" in x)
        made = summary.split("made=")[1].split()[0]
        assert f"acked={made} " in summary, summary
    finally:
        run("down", "-v", timeout=120)
