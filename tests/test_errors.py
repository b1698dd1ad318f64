"""The exception tree drawn in common/errors.py (edgecascade.errors) is the tree in the
code, and every exception class the project defines is in it."""

from __future__ import annotations

import ast
import builtins
import importlib
import re
from pathlib import Path

import edgecascade.errors

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["common", "protocol", "gateway", "cloud", "models", "firmware/emulator", "tools"]
ROW = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Za-z]+)(?: \((?P<also>\w+)\))?\s+"
                 r"(?P<module>edgecascade[\w.]*)\s*$")


def drawn() -> list[tuple[int, str, str | None, str]]:
    """(depth, class name, builtin also-base, module) per row of the docstring tree."""
    doc = edgecascade.errors.__doc__ or ""
    rows = []
    for line in doc.splitlines():
        m = ROW.match(line.strip("\n")[4:]) if line.startswith("    ") else None
        if m:
            rows.append((len(m["indent"]) // 4, m["name"], m["also"], m["module"]))
    return rows


def test_the_drawing_is_the_class_tree():
    rows = drawn()
    assert rows[0][1] == "EdgecascadeError" and len(rows) >= 20
    parents: list[type] = []
    for depth, name, also, module in rows:
        cls = getattr(importlib.import_module(module), name)
        del parents[depth:]
        if parents:
            assert cls.__bases__[0] is parents[-1], (name, cls.__bases__)
        if also is not None:
            assert issubclass(cls, getattr(builtins, also)), name
        parents.append(cls)


def test_every_exception_class_is_drawn():
    names = {name for _, name, _, _ in drawn()}
    defined = set()
    for folder in SOURCES:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef) and any(
                        isinstance(b, ast.Name) and re.search(r"(Error|Exception)$", b.id)
                        for b in node.bases):
                    defined.add(node.name)
    assert defined <= names, sorted(defined - names)


def test_old_names_and_old_builtin_bases_still_catch():
    from edgecascade.cloud.config import ConfigError as WorkerConfigError
    from edgecascade.gateway.config import ConfigError as GatewayConfigError
    from edgecascade.models.dataset import DatasetError
    from edgecascade.models.errors import ModelError
    from edgecascade.protocol import ProtocolError

    assert WorkerConfigError is GatewayConfigError and issubclass(GatewayConfigError, ValueError)
    assert DatasetError is ModelError
    assert issubclass(ProtocolError, ValueError)
    assert issubclass(ProtocolError, edgecascade.errors.EdgecascadeError)
