"""scripts/package_tree.py builds, from pyproject's package-dir map, the same module -> file
layout the interpreter sees through the editable install (what mypy and lint-imports check)."""

from __future__ import annotations

import importlib.util
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREE = runpy.run_path(str(ROOT / "scripts" / "package_tree.py"), run_name="package_tree")


def test_source_dir_follows_the_longest_mapped_prefix() -> None:
    source_dir = TREE["source_dir"]
    m = {"edgecascade": "edgecascade", "edgecascade.tools": "tools",
         "edgecascade.emulator": "firmware/emulator"}
    assert source_dir("edgecascade", m) == ROOT / "edgecascade"
    assert source_dir("edgecascade.tools.demo", m) == ROOT / "tools" / "demo"
    assert source_dir("edgecascade.emulator", m) == ROOT / "firmware" / "emulator"
    assert source_dir("edgecascade.other", m) == ROOT / "edgecascade" / "other"


def test_tree_matches_the_interpreter(tmp_path: Path) -> None:
    n = TREE["build"](tmp_path / "tree")
    files = sorted((tmp_path / "tree").rglob("*.py"))
    assert n == len(files) > 100
    for f in files:
        rel = f.relative_to(tmp_path / "tree").with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        spec = importlib.util.find_spec(".".join(parts))
        assert spec is not None and spec.origin is not None, parts
        assert Path(spec.origin).resolve() == f.resolve(), parts
