"""TLS with X.509 client certificates, as AWS IoT Core requires: a worker configured with
``mqtts://`` plus ca/cert/key connects to a mosquitto that demands a client certificate,
and one without a certificate is refused with a clear error."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edgecascade.cloud.aws import broker_settings
from edgecascade.cloud.model import load_classifier
from edgecascade.cloud.worker import CloudWorker, WorkerError
from edgecascade.tools.broker import free_port
from tests.cloud.helpers import make_config, make_request, sample_images

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path) -> None:
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=edgecascade test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"),
                      ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                f"{name}.ext", cwd=d)


@pytest.fixture
def tls_broker(broker_factory, tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    port = free_port()
    broker = broker_factory(name="tls", extra_config="\n".join([
        f"listener {port} 127.0.0.1",
        f"cafile {pki / 'ca.pem'}",
        f"certfile {pki / 'server.pem'}",
        f"keyfile {pki / 'server.key'}",
        "require_certificate true",
        # as root, mosquitto drops to user "mosquitto", which cannot read pytest's 0700 tmp dirs
        "user root" if os.geteuid() == 0 else "",
    ]))
    return broker, port, pki


def test_worker_connects_with_a_client_certificate(tls_broker, topics, requester_factory,
                                                  cloud_model):
    broker, port, pki = tls_broker
    cfg = make_config(f"mqtts://127.0.0.1:{port}", topics,
                      broker={"ca_file": str(pki / "ca.pem"), "cert_file": str(pki / "client.pem"),
                              "key_file": str(pki / "client.key")})
    worker = CloudWorker(cfg, load_classifier(str(cloud_model)), broker_settings(cfg))
    worker.start(timeout=30)
    try:
        images, _ = sample_images(2)
        req = requester_factory(broker.host, broker.port, topics)  # plain listener, same broker
        r = make_request("gw1", images)
        req.send(r)
        assert req.wait([r.correlation_id])[r.correlation_id].status == "ok"
    finally:
        worker.stop(10)


def test_worker_without_a_certificate_is_refused(tls_broker, topics, cloud_model):
    broker, port, pki = tls_broker
    cfg = make_config(f"mqtts://127.0.0.1:{port}", topics,
                      broker={"ca_file": str(pki / "ca.pem")})
    worker = CloudWorker(cfg, load_classifier(str(cloud_model)), broker_settings(cfg))
    with pytest.raises(WorkerError) as err:
        worker.start(timeout=5)
    assert f"mqtts://127.0.0.1:{port}" in str(err.value)
