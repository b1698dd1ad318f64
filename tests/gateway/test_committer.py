"""The inline group commit (:mod:`edgecascade.gateway.committer`) against a fake gateway.

The fake (``FakeGateway``) is a seam we own: it records what the committer admits and
acknowledges, so the batching rules can be checked exactly. The socket is real (a
socketpair): "more waiting" is what the kernel says.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import pytest

from edgecascade.gateway.committer import Committer, Taken, more_waiting
from edgecascade.protocol import Report


@dataclass
class FakeMetrics:
    counts: dict[str, int] = field(default_factory=dict)

    def inc(self, name: str, n: float = 1.0, **labels: str) -> None:
        key = f"{name}{sorted(labels.items())}"
        self.counts[key] = self.counts.get(key, 0) + 1


@dataclass
class FakeLink:
    events: list[tuple[str, object]]
    session: int = 1

    def ack(self, client: object, mid: int, qos: int, session: int) -> None:
        if session == self.session:
            self.events.append(("ack", mid))


class FakeGateway:
    """Records admissions and acks in one ordered log; ``fail`` makes admit raise."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.events: list[tuple[str, object]] = []
        self.link = FakeLink(self.events)
        self.metrics = FakeMetrics()
        self.fail = False

    def arrival(self, report: Report, payload: bytes, received: float, received_ms: int,
                pixels: object) -> int:
        return report.seq

    def admit(self, arrivals: list[int]) -> None:
        if self.fail:
            raise RuntimeError("disk on fire")
        self.events.append(("admit", list(arrivals)))


def taken(seq: int, received: float = 0.0, session: int = 1) -> Taken:
    report = Report(device_id="d1", epoch=1, seq=seq, ts_ms=1, model_id="m",
                    model_version=1, classes=(1,), confidences=(60000,))
    return Taken(report, b"", received, 0, None, None, seq, 1, session)  # type: ignore[arg-type]


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_more_waiting_is_what_the_socket_holds(pair) -> None:
    a, b = pair
    assert not more_waiting(a)
    b.send(b"x")
    assert more_waiting(a)
    a.recv(1)
    assert not more_waiting(a)
    assert not more_waiting(None)
    threading.Timer(0.05, lambda: b.send(b"y")).start()
    assert more_waiting(a, 5.0)  # what arrives within the wait counts


def test_a_read_burst_is_one_batch_committed_once_the_socket_is_empty(pair) -> None:
    a, b = pair
    gw = FakeGateway()
    c = Committer(gw, max_wait_s=0.001)  # type: ignore[arg-type]
    now = time.monotonic() + 0.2  # "just received" for the next 0.2 s however slow we run
    for seq in range(3):
        c.add(taken(seq, received=now))
    b.send(b"more")  # the next report is already in the socket: keep collecting
    c.after_read(a)
    assert gw.events == []
    a.recv(16)
    c.add(taken(3, received=now))
    t0 = time.monotonic()
    c.after_read(a)  # nothing more arrives in what is left of the wait: commit, then ack
    assert time.monotonic() - t0 >= 0.1  # it did wait for more before committing
    assert gw.events == [("admit", [0, 1, 2, 3]), ("ack", 0), ("ack", 1), ("ack", 2),
                         ("ack", 3)]


def test_a_batch_whose_first_report_waited_is_committed_though_more_is_waiting(pair) -> None:
    a, b = pair
    gw = FakeGateway()
    c = Committer(gw, max_wait_s=0.001)  # type: ignore[arg-type]
    c.add(taken(1, received=time.monotonic() - 0.01))
    b.send(b"more")
    c.after_read(a)
    assert gw.events == [("admit", [1]), ("ack", 1)]


def test_a_batch_is_bounded_by_size_and_by_its_first_reports_wait() -> None:
    gw = FakeGateway()
    c = Committer(gw, max_batch=4, max_wait_s=0.001)  # type: ignore[arg-type]
    for seq in range(4):
        c.add(taken(seq))
    assert gw.events[0] == ("admit", [0, 1, 2, 3])
    gw.events.clear()
    c.add(taken(10, received=5.0))
    c.add(taken(11, received=5.0005))
    assert gw.events == []
    c.add(taken(12, received=5.0011))  # 1.1 ms after the batch's first report
    assert gw.events[0] == ("admit", [10, 11, 12])
    with pytest.raises(ValueError):
        Committer(gw, max_wait_s=0.002)  # type: ignore[arg-type]


def test_a_failed_admission_acks_nothing_and_counts_each_report(pair) -> None:
    a, _ = pair
    gw = FakeGateway()
    gw.fail = True
    c = Committer(gw)  # type: ignore[arg-type]
    for seq in range(3):
        c.add(taken(seq))
    c.after_read(a)
    assert gw.events == []  # not durable: not acknowledged, the broker redelivers
    assert gw.metrics.counts["rejected[('reason', 'internal')]"] == 3


def test_reports_of_an_old_connection_are_admitted_but_not_acked(pair) -> None:
    a, _ = pair
    gw = FakeGateway()
    c = Committer(gw)  # type: ignore[arg-type]
    c.add(taken(1, session=1))
    gw.link.session = 2  # the connection dropped and came back before the commit
    c.add(taken(2, session=2))
    c.after_read(a)
    assert gw.events == [("admit", [1, 2]), ("ack", 2)]


def test_after_stop_nothing_is_admitted_or_acked(pair) -> None:
    a, _ = pair
    gw = FakeGateway()
    c = Committer(gw)  # type: ignore[arg-type]
    c.add(taken(1))
    c.stop()
    c.add(taken(2))
    c.after_read(a)
    c.flush()
    assert gw.events == []
