"""Measure the smallest tflite-micro tensor arena a model runs in.

Each candidate size is tried in a fresh subprocess (``python -m
edgecascade.tools.models.arena_probe MODEL BYTES``) because an arena that is too
small can crash the interpreter instead of failing cleanly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

PROBE_TIMEOUT_S = 60


def _probe_once(model: Path, arena: int) -> int:
    """Child side: allocate with ``arena`` bytes and run one inference; 0 when it worked."""
    from tflite_micro.python.tflite_micro import runtime as tflm

    interp = tflm.Interpreter.from_file(str(model), arena_size=arena)
    details = interp.get_input_details(0)
    interp.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
    interp.invoke()
    interp.get_output(0)
    return 0


def probe(model: Path, arena: int) -> tuple[bool, str]:
    """Run the child once: (it worked, the last line it wrote on stderr)."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "edgecascade.tools.models.arena_probe", str(model), str(arena)],
            capture_output=True, timeout=PROBE_TIMEOUT_S, check=False, text=True,
        )
    except subprocess.TimeoutExpired:
        return False, f"no answer within {PROBE_TIMEOUT_S} s"
    lines = proc.stderr.strip().splitlines()
    return proc.returncode == 0, (lines[-1] if lines else f"exit status {proc.returncode}")


def fits(model: Path, arena: int) -> bool:
    return probe(model, arena)[0]


def min_arena_bytes(model: Path, lo: int = 1024, hi: int = 256 * 1024, step: int = 16) -> int:
    """Binary search (to ``step`` bytes) for the smallest arena that allocates and invokes."""
    ok, said = probe(model, hi)
    if not ok:  # what the child said: a broken install must not read as a bad model
        raise RuntimeError(f"{model}: does not run in tflite-micro even with a {hi}-byte "
                           f"arena (probe: {said[:200]})")
    if fits(model, lo):
        return lo
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if fits(model, mid):
            hi = mid
        else:
            lo = mid
    return hi


if __name__ == "__main__":
    try:
        sys.exit(_probe_once(Path(sys.argv[1]), int(sys.argv[2])))
    except Exception as exc:  # noqa: BLE001 - the child reports any failure as exit 1
        print(f"arena probe failed: {exc}", file=sys.stderr)
        sys.exit(1)
