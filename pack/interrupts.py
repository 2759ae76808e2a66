"""Ctrl-C and SIGTERM in pack's own processes (the CLI and the in-container entrypoints).

The first SIGINT or SIGTERM stops the work as a KeyboardInterrupt, so every `finally`
and `with` cleans up as the stack unwinds (temp folders, partial uploads, containers
and pods); from then on both signals are ignored until the process exits, so a second
Ctrl-C cannot cut that cleanup short halfway and leave something half written. The
caller then prints one line and exits 128 + the signal number (130 for Ctrl-C).
Without this, SIGTERM (`timeout`, a pod deletion) ended the process with no cleanup.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop:
    """Which signal stopped the process, if one did. (A plain class: `pack --help` does
    not pay for importing dataclasses.)"""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    @property
    def word(self) -> str:
        return "terminated" if self.signum == signal.SIGTERM else "interrupted"


@contextmanager
def stop_on_signals() -> Iterator[Stop]:
    """Within the block, the first SIGINT/SIGTERM raises KeyboardInterrupt and later ones
    are ignored; the handlers in place before are restored after it. Outside the main
    thread (where Python cannot set handlers) the block changes nothing."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def first(signum: int, frame: FrameType | None) -> Any:
        stop.signum = signum
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, first) for sig in SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def ignore_signals() -> None:
    """For the last steps of a process whose exit code is decided (interpreter shutdown)."""
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
