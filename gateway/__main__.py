"""``python -m edgecascade.gateway --config gateway.toml``: the same as ``edgecascade gateway``."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
