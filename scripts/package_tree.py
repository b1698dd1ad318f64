"""Build a directory tree with the installed package's layout, from pyproject.toml.

pyproject maps top-level folders to subpackages (``[tool.setuptools] package-dir``:
``edgecascade.protocol = protocol`` ...). The interpreter follows that map through the
editable install's import hook, but static tools (mypy, grimp/import-linter) find modules
by walking directories and never run the hook: they see ``edgecascade/`` alone. This script
makes ``<out>/edgecascade/...``: one real directory per entry of ``packages`` and a symlink
per ``.py`` file, placed where setuptools' own rule puts it (the longest ``package-dir`` key
that prefixes the package name, plus the rest of the name as folders). The map stays one
fact, in pyproject; only packages listed there appear, as in the wheel.

    python scripts/package_tree.py [OUT]      # default: .pkg_tree
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def source_dir(package: str, package_dir: dict[str, str]) -> Path:
    """The folder setuptools reads ``package`` from."""
    parts = package.split(".")
    for n in range(len(parts), -1, -1):
        key = ".".join(parts[:n])
        if key in package_dir:
            return ROOT / package_dir[key] / Path(*parts[n:])
    return ROOT / Path(*parts)


def build(out: Path) -> int:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dir: dict[str, str] = setup.get("package-dir", {})
    if out.exists():
        shutil.rmtree(out)
    count = 0
    for package in setup["packages"]:
        src = source_dir(package, package_dir)
        if not (src / "__init__.py").is_file():
            if not any(src.glob("*.py")):
                continue  # a data folder listed as a package (shipped as package data)
            raise SystemExit(f"package_tree: {package} -> {src} has no __init__.py")
        dest = out / Path(*package.split("."))
        dest.mkdir(parents=True, exist_ok=True)
        for f in sorted(src.glob("*.py")):
            os.symlink(os.path.relpath(f, dest), dest / f.name)
            count += 1
    return count


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".pkg_tree"
    n = build(target.resolve())
    print(f"package_tree: {n} modules under {target}")
