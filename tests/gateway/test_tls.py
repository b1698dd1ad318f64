"""The gateway's cloud connection over TLS with an X.509 client certificate (the AWS IoT
Core way), against a real mosquitto TLS listener that requires client certificates."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from edgecascade.gateway.service import Gateway
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import TopicKind, encode
from edgecascade.tools.broker import free_port
from tests.gateway.conftest import decoded_results
from tests.gateway.support import CloudResponderSeam, edge_split, make_config, report
from tests.support import Collector, publish


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d: Path) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=ec-test-ca", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        extra = []
        if ext:
            (d / f"{name}.ext").write_text(ext + "\n")
            extra = ["-extfile", f"{name}.ext"]
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *extra, cwd=d)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_cloud_link_over_tls_with_client_certificate(broker_factory, topics, tmp_path,
                                                     closing):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    tls_port = free_port()
    site = broker_factory(name="tls", extra_config=(
        f"listener {tls_port} 127.0.0.1\ncafile {pki}/ca.pem\ncertfile {pki}/server.pem\n"
        f"keyfile {pki}/server.key\nrequire_certificate true\n"))
    # (as root, the harness itself keeps mosquitto root: a second "user" line is an error)
    results = Collector(site.host, site.port, [topics.filter(TopicKind.RESULT)])
    closing.append(results)
    closing.append(CloudResponderSeam(site.host, site.port, topics))  # on the plain listener
    _, unsure = edge_split()
    cfg = replace(make_config(tmp_path, site.url, topics, gateway_id="gwtls"),
                  cloud_broker=BrokerSettings(
                      url=f"mqtts://127.0.0.1:{tls_port}", ca_file=str(pki / "ca.pem"),
                      cert_file=str(pki / "client.pem"), key_file=str(pki / "client.key"),
                      keepalive=5))
    gw = Gateway(cfg).start()
    closing.append(gw)
    assert gw.cloud is not None and gw.cloud.connected
    publish(site.host, site.port, [(topics.device_report("d1"),
                                    encode(report("d1", 1, confident=False, image=unsure[0])))])
    results.wait_for(1, 30)
    r = decoded_results(results)[0]
    assert (r.tier, r.gateway_id, r.revision) == ("cloud", "gwtls", 0)
