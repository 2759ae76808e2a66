"""The end of an attempt as the task itself says it, ahead of the kubelet.

The kubelet reports a container's exit at its next status check (about once a
second), so a pod's `Succeeded` comes on average half a second after the task ended.
A pod started with `PACK_SAY_DONE=<token>` (a random token of its own) ends a
successful run with `DONE_LINE <token>` as the last line of its log: pack-execute
writes it after outputs.pb and the task's exit handlers, and takes the token out of
its env before the task's code runs, so the task cannot write it (see
`pack.launcher.entrypoint`). The log follower that reads that exact line sets
`DoneSignal`, which wakes whatever waits for the pod: its own watch stream is cut, a
shared watch's waiter is woken.

The line is pack's, not the task's: it is left out of what is shown and stored.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from pack.launcher.entrypoint import DONE_LINE

if TYPE_CHECKING:
    from pack.launcher.backends.kubehttp import Stream
    from pack.launcher.backends.podwatch import PodWatcher


class DoneSignal:
    """Set once the task said it is done; wakes the wait on its pod."""

    def __init__(self, watcher: PodWatcher | None = None) -> None:
        self.event = threading.Event()
        self.at: float | None = None  # time.time() when the line was read
        self._lock = threading.Lock()
        self._stream: Stream | None = None
        self._watcher = watcher

    def is_set(self) -> bool:
        return self.event.is_set()

    def watching(self, stream: Stream) -> None:
        """The watch stream the waiter reads now: cut it when the signal comes (at once,
        if it came while the stream was being opened)."""
        with self._lock:
            self._stream = stream
            already = self.event.is_set()
        if already:
            stream.abort()

    def set(self, at: float) -> None:
        with self._lock:
            self.at = at
            self.event.set()
            stream = self._stream
        if stream is not None:
            stream.abort()
        if self._watcher is not None:
            self._watcher.wake()


def new_token() -> str:
    import secrets

    return secrets.token_hex(8)


def done_line(token: str) -> str:
    return f"{DONE_LINE} {token}"


_ANY_DONE_LINE = re.compile(re.escape(DONE_LINE) + r" [0-9a-f]{16}")


def is_done_line(line: str, token: str | None = None) -> bool:
    """`line` is pack-execute's closing line: with `token`'s, or (None) any pod's."""
    line = line.rstrip("\r\n")
    if token is not None:
        return line == done_line(token)
    return _ANY_DONE_LINE.fullmatch(line) is not None


def without_done_line(lines: Iterable[str]) -> Iterator[str]:
    """A container's log lines without pack-execute's closing line (a line like it
    anywhere but at the end is kept)."""
    held: str | None = None
    for line in lines:
        if held is not None:
            yield held
            held = None
        if is_done_line(line):
            held = line
        else:
            yield line
