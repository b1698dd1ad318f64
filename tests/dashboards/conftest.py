"""Fixtures: a gateway with the JSON view and Home Assistant discovery on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from edgecascade.gateway.dashboards import DashboardsConfig
from edgecascade.gateway.service import Gateway
from edgecascade.protocol import Topics
from tests.gateway.conftest import closing, responder, start_gateway  # noqa: F401 - fixtures

DASH_ON = DashboardsConfig(json_view=True, ha_discovery=True, ha_prefix="ha")


@pytest.fixture
def dash_gateway(start_gateway: Callable[..., Gateway]) -> Callable[..., Gateway]:  # noqa: F811
    def start(site_url: str, topics: Topics, **kwargs: Any) -> Gateway:
        kwargs.setdefault("dashboards", DASH_ON)
        return start_gateway(site_url, topics, **kwargs)

    return start
