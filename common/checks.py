"""Pre-start checks shared by the commands: each returns None when fine, else one line.

They have no side effects (nothing is created or kept open), so ``--check`` can run
them on a live machine next to the running service.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path


def writable_dir(path: str | Path) -> str | None:
    """Can ``path`` be used (or created) as a directory this process writes to?"""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            return f"{p} exists and is not a directory"
        if not os.access(p, os.W_OK | os.X_OK):
            return f"{p} is not writable by this user (uid {os.geteuid()})"
        return None
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {p}: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create {p}: {parent} is not writable by this user (uid {os.geteuid()})"
    return None


def port_free(host: str, port: int) -> str | None:
    """Can a TCP server bind ``host:port`` (with SO_REUSEADDR, as http.server does)?"""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc.strerror or exc}"
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is already in use (another gateway, or a previous one " \
                       f"still stopping?)"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None
