"""What one device's stolen credential can still do, on the site ``site init`` ships
(issue 24). Measured before: 100 forged reports stepping +250 went from seq 104 to
25,104 in a second with no refusal; a forged next epoch made the ledger forget the
device's answered frames, so replays of them were answered again; a second login with a
device's identity left no trace but the broker's own log.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from edgecascade.protocol import Topics, encode
from tests.faults.rig import wait_until
from tests.gateway.support import report
from tests.security.helpers import Peer
from tests.security.secure_site import SecureSite

THIEF = "d-0005"  # not in the running fleet: the thief is its only voice


@pytest.fixture
def site(tmp_path: Path, topics: Topics) -> Iterator[SecureSite]:
    made = SecureSite(tmp_path, topics)
    yield made
    made.close()


def _as(device: str, seq: int, ts_ms: int, epoch: int = 1) -> bytes:
    return encode(replace(report(device, seq, confident=True, epoch=epoch), ts_ms=ts_ms))


def _finals(site: SecureSite, device: str) -> Counter[tuple[int, int]]:
    _, seen = site.observer.snapshot()
    return Counter((s.result.epoch, s.result.seq) for s in seen
                   if s.result.device_id == device and s.result.revision == 0)


def test_one_stolen_device_credential(site: SecureSite) -> None:
    site.start_gateway()
    fleet = site.fleet(rate=5.0, reports=40, count=2)  # d-0000, d-0001 report as usual
    topic = site.topics.device_report(THIEF)
    thief = Peer.connect(site.folder.credentials(THIEF))
    now = int(time.time() * 1000)
    # the device's history: 105 frames, 5/s, over the last 21 s (answered)
    for seq in range(105):
        thief.publish(topic, _as(THIEF, seq, now - 21_000 + seq * 200))
    wait_until(lambda: len(_finals(site, THIEF)) == 105, 30, "the history answered")

    # (1) forged seqs stepping +250, a hundred in about a second
    before = site.metrics()
    for k in range(1, 101):
        thief.publish(topic, _as(THIEF, 104 + 250 * k, int(time.time() * 1000)))
    thief.publish(topic, _as(THIEF, 105, int(time.time() * 1000)))  # a barrier: answered
    wait_until(lambda: (1, 105) in _finals(site, THIEF), 30, "the barrier answered")
    m = site.metrics()
    refused = sum(m.get(f"ec_gateway_rejected_total{{reason=report:{r}}}", 0)
                  - before.get(f"ec_gateway_rejected_total{{reason=report:{r}}}", 0)
                  for r in ("rate_limited", "seq_ahead"))
    claimed = max(seq for epoch, seq in _finals(site, THIEF) if epoch == 1)
    assert refused >= 98  # one step fits the credit (256), a second at most
    assert claimed <= 104 + 2 * 250  # not 25,104

    # (2) a forged next epoch, then the device's own next frame: a "new session" ...
    thief.publish(topic, _as(THIEF, 0, int(time.time() * 1000), epoch=2))
    thief.publish(topic, _as(THIEF, 106, int(time.time() * 1000)))
    wait_until(lambda: (1, 106) in _finals(site, THIEF), 30, "the next frame answered")
    assert "epoch went backwards" in site.log_text()  # the ledger took it for one
    duplicates = site.metrics()["ec_gateway_duplicates_total"]
    # ... and yet replays of the frames it had answered stay duplicates (same bytes)
    for seq in range(10):
        thief.publish(topic, _as(THIEF, seq, now - 21_000 + seq * 200))
    wait_until(lambda: site.metrics()["ec_gateway_duplicates_total"] >= duplicates + 10, 30,
               "the replays recognised")
    thief.publish(topic, _as(THIEF, 107, int(time.time() * 1000)))  # barrier
    wait_until(lambda: (1, 107) in _finals(site, THIEF), 30, "the barrier answered")
    finals = _finals(site, THIEF)
    assert all(finals[(1, seq)] == 1 for seq in range(10)), finals  # not answered again
    thief.close()

    # (3) a second login with a connected device's identity: counted, warned (quietly)
    running = Peer.connect(site.folder.credentials("d-0000"))
    wait_until(lambda: site.metrics().get(
        "ec_gateway_identity_takeovers_total{role=device}", 0) >= 1, 30, "the takeover counted")
    running.close()
    assert "an identity connected while already connected" in site.log_text()
    assert site.metrics().get("ec_gateway_identity_takeovers_total{role=gateway}", 0) == 0

    # the real devices lost nothing to any of it
    site.wait_sent(fleet)
    site.wait_all_answered(60)
    lost, conflicting = site.missing()
    assert not lost and not conflicting
