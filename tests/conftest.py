"""Shared fixtures: real mosquitto brokers on free loopback ports, per-test topics.

Brokers are mosquitto containers through testcontainers wherever a Docker engine answers
(``scripts/test`` starts one and imports the image), the local binary only where Docker
can't run; pytest's header says which and why."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgecascade.protocol import Topics
from edgecascade.tools.broker import (
    Broker,
    BrokerUnavailable,
    broker_backend,
    make_broker,
)


def pytest_report_header(config: pytest.Config) -> str:
    try:
        return f"brokers: {broker_backend().detail}"
    except BrokerUnavailable as exc:
        return f"brokers: {exc}"


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Make brokers with custom config (bridges, TLS, ACLs); all stopped at teardown.

    ``broker_factory(extra_config="...", port=..., start=True)``.
    """
    made: list[Broker] = []

    def factory(*, start: bool = True, name: str | None = None, **kwargs: object) -> Broker:
        workdir = tmp_path / (name or f"broker{len(made)}")
        try:
            broker = make_broker(workdir, **kwargs)
        except BrokerUnavailable as exc:
            pytest.fail(str(exc))
        made.append(broker)
        if start:
            broker.start()
        return broker

    yield factory
    for broker in made:
        broker.stop()


@pytest.fixture
def broker(broker_factory: Callable[..., Broker]) -> Broker:
    """A started mosquitto on a free loopback port."""
    return broker_factory()


@pytest.fixture
def topics() -> Topics:
    """A topic namespace of this test's own, so tests never see each other's messages."""
    return Topics(f"t{uuid.uuid4().hex[:10]}/v1")
