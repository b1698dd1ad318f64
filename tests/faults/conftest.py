from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgecascade.protocol import Topics
from edgecascade.tools.broker import MosquittoBroker
from tests.faults.rig import Rig


@pytest.fixture
def rig_factory(tmp_path: Path, broker_factory: Callable[..., MosquittoBroker],
                topics: Topics) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def factory(**kwargs: object) -> Rig:
        rig = Rig(tmp_path, broker_factory, topics, **kwargs)  # type: ignore[arg-type]
        made.append(rig)
        return rig

    yield factory
    for rig in made:
        rig.close()
