"""Shared fixtures: real mosquitto brokers on free loopback ports, per-test topics."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgecascade.protocol import Topics
from edgecascade.tools.broker import BrokerUnavailable, MosquittoBroker, make_broker


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """Make brokers with custom config (bridges, TLS, ACLs); all stopped at teardown.

    ``broker_factory(extra_config="...", port=..., start=True)``.
    """
    made: list[MosquittoBroker] = []

    def factory(
        *, start: bool = True, name: str | None = None, **kwargs: object
    ) -> MosquittoBroker:
        workdir = tmp_path / (name or f"broker{len(made)}")
        try:
            broker = make_broker(workdir, **kwargs)
        except BrokerUnavailable as exc:
            pytest.fail(str(exc))
        made.append(broker)  # type: ignore[arg-type]
        if start:
            broker.start()
        return broker  # type: ignore[return-value]

    yield factory
    for broker in made:
        broker.stop()


@pytest.fixture
def broker(broker_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A started mosquitto on a free loopback port."""
    return broker_factory()


@pytest.fixture
def topics() -> Topics:
    """A topic namespace of this test's own, so tests never see each other's messages."""
    return Topics(f"t{uuid.uuid4().hex[:10]}/v1")
