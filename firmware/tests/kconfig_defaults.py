"""Print ``-DCONFIG_<NAME>=<default>`` for the int/hex options of a Kconfig file, resolved
the way menuconfig would for the given true symbols (``default X if SYMBOL`` lines, the
first that applies): so ``make app-check`` compiles each board's pins exactly as the
Kconfig defines them, with no second copy of the pin tables.

    python firmware/tests/kconfig_defaults.py KCONFIG PREFIX SYMBOL...
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def defaults(text: str, prefix: str, true: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    name, kind = "", ""
    for raw in text.splitlines():
        line = raw.strip()
        m = re.fullmatch(r"config (\w+)", line)
        if m:
            name, kind = m.group(1), ""
            continue
        if re.fullmatch(r'(int|hex)( ".*")?', line):
            kind = line.split()[0]
            continue
        m = re.fullmatch(r"default (\S+)(?: if (\w+))?", line)
        if (m and name.startswith(prefix) and kind and name not in out
                and (m.group(2) is None or m.group(2) in true)):
            out[name] = m.group(1)
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    found = defaults(Path(argv[0]).read_text(), argv[1], set(argv[2:]))
    print(" ".join(f"-DCONFIG_{k}={v}" for k, v in sorted(found.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
