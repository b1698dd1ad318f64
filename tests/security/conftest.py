"""A secured site (``edgecascade site init``) with both brokers running its shipped configs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgecascade.site import Identity, Site
from edgecascade.tools.broker import free_port
from edgecascade.tools.site.broker import SiteBrokers
from edgecascade.tools.site.store import Layout, SiteFolder

from .helpers import Peer

DEVICES = ("devA", "devB")


@pytest.fixture
def site_folder(tmp_path: Path, topics) -> SiteFolder:
    folder = SiteFolder(tmp_path / "site")
    site = Site(prefix=topics.prefix, gateway_id="gw1", identities=(
        Identity("gw1", "gateway"), Identity("dash", "dashboard"),
        Identity("worker1", "worker"), Identity("maint", "maintainer"),
        *(Identity(d, "device") for d in DEVICES)))
    folder.init(site, Layout(hosts=("localhost", "127.0.0.1"), site_port=free_port(),
                             cloud_port=free_port(), bind="127.0.0.1", broker_user="root"))
    return folder


@pytest.fixture
def secure_brokers(site_folder: SiteFolder) -> Iterator[SiteBrokers]:
    brokers = SiteBrokers(site_folder, host="localhost")
    brokers.start()
    yield brokers
    brokers.stop()


@pytest.fixture
def peers(site_folder: SiteFolder, secure_brokers: SiteBrokers) -> Iterator[dict[str, Peer]]:
    """Connect ``peers[name]`` lazily; ``peers.cloud(name)`` for the cloud broker."""
    made: list[Peer] = []

    class Peers(dict[str, Peer]):
        def __missing__(self, name: str) -> Peer:
            peer = Peer.connect(site_folder.credentials(name), cloud=False)
            made.append(peer)
            self[name] = peer
            return peer

        def cloud(self, name: str) -> Peer:
            peer = Peer.connect(site_folder.credentials(name), cloud=True)
            made.append(peer)
            return peer

    yield Peers()
    for peer in made:
        peer.close()


from tests.gateway.conftest import closing, results, start_gateway  # noqa: E402,F401
