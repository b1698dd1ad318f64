from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from edgecascade.gateway.service import Gateway
from edgecascade.protocol import Result, TopicKind, Topics
from tests.gateway.support import CloudResponderSeam, make_config
from tests.support import Collector


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    """Things with close()/stop() to shut down at teardown, last first."""
    items: list[Any] = []
    yield items
    for item in reversed(items):
        (getattr(item, "stop", None) or item.close)()


@pytest.fixture
def start_gateway(tmp_path, closing) -> Callable[..., Gateway]:
    def start(site_url: str, topics: Topics, **kwargs: Any) -> Gateway:
        gw = Gateway(make_config(tmp_path, site_url, topics, **kwargs)).start()
        closing.append(gw)
        return gw

    return start


@pytest.fixture
def responder(broker, topics, closing) -> CloudResponderSeam:
    r = CloudResponderSeam(broker.host, broker.port, topics)
    closing.append(r)
    return r


@pytest.fixture
def results(broker, topics, closing) -> Collector:
    c = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    closing.append(c)
    return c


def decoded_results(collector: Collector) -> list[Result]:
    return [r for r in collector.decoded(Result) if isinstance(r, Result)]
