"""The site CA and broker server certificates, made with the ``openssl`` CLI.

``openssl`` is on every system mosquitto runs on; the ``cryptography`` package is not a
dependency of the gateway install, so the site tool does not need it. Keys are P-256 EC,
written mode 0600. A server certificate names every host clients use (DNS and IP SANs).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from edgecascade.errors import ToolError

CA_DAYS = 3650
SERVER_DAYS = 825


class PkiError(ToolError, RuntimeError):
    """openssl is missing or refused to make a key or certificate."""


def _openssl(*args: str) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise PkiError("openssl not found: install it (Debian/Ubuntu: 'apt-get install openssl')")
    out = subprocess.run([binary, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed: {out.stderr.strip()[-400:]}")


def _private(path: Path) -> None:
    os.chmod(path, 0o600)


def make_ca(folder: Path, name: str = "edgecascade site CA") -> tuple[Path, Path]:
    """A self-signed CA (cert, key) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    crt, key = folder / "ca.crt", folder / "ca.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(crt), "-days", str(CA_DAYS),
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _private(key)
    return crt, key


def san_line(hosts: Sequence[str]) -> str:
    parts = []
    for host in hosts:
        try:
            ipaddress.ip_address(host)
            parts.append(f"IP:{host}")
        except ValueError:
            parts.append(f"DNS:{host}")
    return "subjectAltName=" + ",".join(parts)


def make_server_cert(ca_crt: Path, ca_key: Path, crt: Path, key: Path,
                     hosts: Sequence[str]) -> None:
    """A broker certificate signed by the site CA, valid for ``hosts``."""
    if not hosts:
        raise PkiError("a server certificate needs at least one host name or address")
    crt.parent.mkdir(parents=True, exist_ok=True)
    csr, ext = crt.with_suffix(".csr"), crt.with_suffix(".ext")
    ext.write_text(f"{san_line(hosts)}\nextendedKeyUsage=serverAuth\n"
                   "basicConstraints=CA:FALSE\n")
    try:
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={hosts[0]}")
        _private(key)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-out", str(crt), "-days", str(SERVER_DAYS),
                 "-extfile", str(ext))
    finally:
        csr.unlink(missing_ok=True)
        ext.unlink(missing_ok=True)
