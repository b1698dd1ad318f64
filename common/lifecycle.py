"""Long-running commands stop the same way: on SIGTERM (a supervisor) or SIGINT (Ctrl-C)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs; handlers restored after.

    Outside the main thread (a command run from a test thread) signals cannot be
    handled there, so the event is only set by the caller.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_signal(signum: int, frame: Any) -> None:
        stop.signum = signum  # type: ignore[attr-defined]
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived while a command was not yet in its stoppable wait.

    A ``KeyboardInterrupt``: no ``except Exception`` on the way swallows it, and code
    that already stops cleanly on Ctrl-C (the demo prints its report) does the same on
    SIGTERM. ``edgecascade.cli.main`` turns it into an exit code.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@contextmanager
def interruptible() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT raise :class:`Interrupted` at once.

    The outer layer of every command: loading a model or importing TensorFlow is
    stopped promptly too, not only the waits inside :func:`stop_signals` (which
    replaces these handlers for its own block and restores them after).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
