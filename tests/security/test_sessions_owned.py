"""Client ids and sessions are owned (issue 24), on the site ``edgecascade site init`` ships.

With ``use_username_as_clientid`` a connection's client id is its username: anything
that logs in with the gateway's credentials *becomes* the gateway, closes its connection
and -- with a clean session -- throws away the reports queued for it. Measured before:
the gateway's start-up Nagle probe did that on every restart (63 frames lost in a 5 s
SIGKILL, ``session_present: false``) and ``edgecascade status`` did it on every run (the
site link dropped, 24 frames lost). Here, with devices logging in with their own
credentials, every frame they made is answered, the gateway finds its session on
restart, and the site link never drops while an operator polls ``status``.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgecascade.protocol import Topics
from tests.faults.rig import wait_until
from tests.security.helpers import Peer
from tests.security.secure_site import SecureSite, run_status


@pytest.fixture
def site(tmp_path: Path, topics: Topics) -> Iterator[SecureSite]:
    made = SecureSite(tmp_path, topics)
    yield made
    made.close()


def test_status_polled_and_gateway_sigkilled_under_load_lose_nothing(site: SecureSite) -> None:
    site.start_gateway()
    fleet = site.fleet(rate=10.0, reports=140)  # 6 devices, 14 s
    wait_until(lambda: fleet.stats.connected == 6, 30, "the devices connected")

    # an operator runs `status` every second, as the issue did: with the gateway's config
    # (its password in the environment) and, for the device count, the status identity
    outputs = []
    for i in range(5):
        extra = ("--creds", str(site.creds("status"))) if i % 2 else ()
        outputs.append(run_status(site, "--json", *extra))
        time.sleep(1.0)
    m = site.metrics()
    assert all(o.returncode == 0 for o in outputs), [o.stderr[-300:] for o in outputs]
    assert '"devices_known": 6' in outputs[3].stdout  # read with its own login
    assert "site link down" not in site.log_text()
    assert m["ec_gateway_site_sessions_lost_total"] == 0
    assert m.get("ec_gateway_identity_takeovers_total{role=gateway}", 0) == 0

    # SIGKILL under load, restart: the start-up checks run again (Nagle probe included)
    site.kill_gateway(signal.SIGKILL)
    time.sleep(1.0)
    site.start_gateway()
    m = site.metrics()
    assert m["ec_gateway_site_session_present"] == 1, site.log_tail()
    assert m["ec_gateway_site_sessions_lost_total"] == 0

    site.wait_sent(fleet)
    made = site.wait_all_answered(90)
    lost, conflicting = site.missing()
    assert made == 6 * 140 and fleet.stats.dropped == 0
    assert not lost and not conflicting
    assert site.metrics().get("ec_gateway_identity_takeovers_total{role=gateway}", 0) == 0


def test_a_forgotten_session_is_said_loudly(site: SecureSite) -> None:
    """A broker that lost the gateway's session (here: a clean-session login with the
    gateway's credentials, what the old probe did) is counted, logged and in /readyz."""
    site.start_gateway()
    creds = site.folder.credentials("gw1")
    thief = Peer.connect(creds, client_id="anything")  # the broker makes it "gw1"
    thief.close()
    wait_until(lambda: site.metrics().get("ec_gateway_site_sessions_lost_total", 0) >= 1,
               30, "the lost session counted")
    assert site.metrics()["ec_gateway_site_session_present"] == 0
    assert "site broker has no session for this gateway" in site.log_text()
    with urllib.request.urlopen(f"http://127.0.0.1:{site.http_port}/readyz", timeout=5) as r:
        body = r.read().decode()
    assert r.status == 200 and "site session lost" in body


def test_devices_cli_logs_each_device_in_with_its_own_credentials(
        site: SecureSite, capsys: pytest.CaptureFixture[str]) -> None:
    from edgecascade.cli import main

    args = ["devices", "--site-dir", str(site.folder.folder), "--id-prefix", "d",
            "--rate", "5", "--duration", "1.5", "--json",
            "--state-file", str(site.tmp / "cli-devices.json")]
    assert main([*args, "--count", "2"]) == 0  # every report acknowledged, on its own login
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["devices"] == 2 and out["connects"] == 2 and out["acked"] == out["sent"] > 0
    # a device that is not on the site: one line, exit 2, nothing connects
    assert main([*args, "--count", "2", "--first", "99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "d-0099" in err[0] and "not an active device" in err[0]
