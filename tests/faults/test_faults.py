"""Fault injection with real processes and real brokers: every frame accounted for.

Each test runs devices -> site broker -> gateway process -> WAN link -> cloud broker ->
worker processes, breaks one thing under load, and checks the accounting rule of
:mod:`tests.faults.rig`: every frame a device made has exactly one final answer or a
counted drop, and no frame ever gets two different final answers.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from edgecascade.protocol import Report, encode
from tests.faults.rig import Rig, wait_until
from tests.support import publish


def check(rig: Rig, timeout: float = 120) -> None:
    acc = rig.wait_all_answered(timeout)
    assert acc.unaccounted == 0 and not acc.conflicting, acc.describe()
    assert acc.made > 0


def later(delay: float, action: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()), daemon=True)
    thread.start()
    return thread


def test_site_broker_restart_under_load(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory().start()
    fleet = rig.devices(count=8, rate=10, reports=50)
    time.sleep(1.5)
    rig.site.restart(down_for=2.0)  # same port, persisted sessions
    rig.wait_sent(fleet)
    check(rig)
    assert fleet.stats.disconnects >= 8  # every device really lost its broker


def test_cloud_broker_down_and_back(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(escalate_all=True).start()
    fleet = rig.devices(count=4, rate=5, reports=30)
    time.sleep(1.5)
    rig.cloud.stop()
    time.sleep(3.0)
    rig.cloud.start()
    rig.wait_sent(fleet)
    check(rig)
    acc = rig.account()
    assert acc.degraded > 0, acc.describe()  # answered locally while the cloud was away
    # The spool drains and the cloud's answers arrive as corrections.
    wait_until(lambda: rig.metrics().get("ec_gateway_spool_depth", 1) == 0, 90, "spool empty")
    wait_until(lambda: rig.account().corrections > 0, 60, "corrections")


def test_gateway_sigkill_under_load_then_restart(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory().start()
    fleet = rig.devices(count=8, rate=10, reports=50)
    time.sleep(2.0)
    rig.kill("gateway")
    time.sleep(1.0)
    rig.start_gateway()
    rig.wait_sent(fleet)
    check(rig)


def test_cloud_worker_killed_mid_burst(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(escalate_all=True, workers=2, deadline_ms=2000).start()
    fleet = rig.devices(count=6, rate=10, reports=30)
    time.sleep(1.0)
    rig.kill("worker0")
    rig.wait_sent(fleet)
    check(rig)
    acc = rig.account()
    _, seen = rig.observer.snapshot()
    assert any(s.result.tier == "cloud" for s in seen), acc.describe()  # worker1 carried on


def test_slow_cloud_answers_after_the_deadline(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(escalate_all=True, wan_delay_ms=600, deadline_ms=500).start()
    fleet = rig.devices(count=3, rate=4, reports=12)
    rig.wait_sent(fleet)
    check(rig)
    acc = rig.account()
    assert acc.degraded > 0, acc.describe()  # answered locally at the deadline
    # The late cloud answers still come, as corrections of the same frames.
    wait_until(lambda: rig.account().corrections > 0, 60, "late answers as corrections")
    _, seen = rig.observer.snapshot()
    for s in seen:
        if s.result.revision > 0:
            assert s.result.tier == "cloud"


def test_flood_of_bad_payloads_and_unknown_devices(rig_factory: Callable[..., Rig]) -> None:
    allowed = tuple(f"dev-{i:04d}" for i in range(4))
    rig = rig_factory(allowlist=allowed).start()
    fleet = rig.devices(count=4, rate=10, reports=40)
    rogue = rig.devices(count=2, rate=10, reports=10, prefix="rogue")
    good = Report("dev-0000", 1, 1, 0, "mnist-mcu", 1, (1,), (65535,))
    raw = msgpack.unpackb(encode(good), strict_map_key=False)
    wrong_schema = msgpack.packb({**raw, 8: "not a list"})
    bad = [
        (rig.topics.device_report("dev-0001"), b"\xc1 garbage"),
        (rig.topics.device_report("dev-0001"), b""),
        (rig.topics.device_report("dev-0001"), b"\x00" * (200 * 1024)),  # over 128 KB
        (rig.topics.device_report("dev-0002"), wrong_schema),
        (rig.topics.device_report("dev-0002"), msgpack.packb([1, 2, 3])),
        (rig.topics.device_report("dev-0003"), encode(good)),  # topic and payload disagree
        (rig.topics.prefix + "/dev/bad$id/report", encode(good)),
    ] * 10
    publish(rig.site.host, rig.site.port, bad)
    rig.wait_sent(fleet)
    rig.wait_sent(rogue)
    rogue_keys = {k for k, _ in rig.ledger.items() if k[0].startswith("rogue")}

    def counted() -> bool:
        return rig.metrics().get("ec_gateway_rejected_total", 0) >= len(bad) + len(rogue_keys)

    wait_until(counted, 60, "every bad input counted")
    acc = rig.account()
    assert set(acc.missing) == rogue_keys, acc.describe()  # unknown devices: rejected
    assert not acc.conflicting and acc.answered == acc.made - len(rogue_keys)
    metrics = rig.metrics()
    reasons = {k for k in metrics if k.startswith("ec_gateway_rejected_total{")}
    assert len(reasons) >= 3, reasons  # rejections are counted by reason
    assert rig.procs["gateway"].poll() is None  # and the gateway is still running


def test_disk_full_for_the_spool(rig_factory: Callable[..., Rig], tmp_path: Path) -> None:
    mount = tmp_path / "statefs"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"needs a small tmpfs (root): {exc}")
    try:
        rig = rig_factory(escalate_all=True, state_dir=mount / "gateway-state")
        rig.cloud.stop()  # the cloud is away: every frame must be spooled
        rig.start_gateway()
        filler = mount / "filler"
        free = shutil.disk_usage(mount).free
        filler.write_bytes(b"\0" * max(0, free - 400 * 1024))  # leave ~400 KB
        fleet = rig.devices(count=4, rate=10, reports=60)
        rig.wait_sent(fleet)
        check(rig)  # every frame still answered (locally, degraded)

        def dropped() -> float:
            return rig.metrics().get("ec_gateway_spool_dropped_total", 0.0)

        wait_until(lambda: dropped() > 0, 30, "spool drops counted when the disk is full")
        assert "disk" in rig.log_tail("gateway", 200).lower()  # and said so in the log
        # Space returns, the cloud comes back: the spool drains, corrections follow.
        filler.unlink()
        rig.cloud.start()
        rig.start_worker(0)
        wait_until(lambda: rig.metrics().get("ec_gateway_spool_depth", 1) == 0, 90,
                   "spool drained")
        wait_until(lambda: rig.account().corrections > 0, 60, "corrections after recovery")
        assert rig.procs["gateway"].poll() is None
        acc = rig.account()
        assert acc.unaccounted == 0 and not acc.conflicting, acc.describe()
    finally:
        rig.close()
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.soak
def test_soak_repeated_gateway_kills_under_load(rig_factory: Callable[..., Rig]) -> None:
    """On demand (-m soak): five SIGKILL/restart rounds while 20 devices report."""
    rig = rig_factory().start()
    fleet = rig.devices(count=20, rate=5, reports=300)
    for _ in range(5):
        time.sleep(8.0)
        rig.kill("gateway")
        time.sleep(1.0)
        rig.start_gateway()
    rig.wait_sent(fleet, timeout=300)
    check(rig, timeout=300)


@pytest.mark.soak
def test_soak_sixty_second_cloud_outage(rig_factory: Callable[..., Rig]) -> None:
    """On demand (-m soak): the cloud link is cut for 60 s under load."""
    rig = rig_factory(escalate_all=True).start()
    fleet = rig.devices(count=10, rate=2, reports=60)
    time.sleep(5.0)
    rig.wan.cut()
    time.sleep(60.0)
    rig.wan.restore()
    rig.wait_sent(fleet, timeout=300)
    check(rig, timeout=300)
    wait_until(lambda: rig.metrics().get("ec_gateway_spool_depth", 1) == 0, 300,
               "spool drained")
