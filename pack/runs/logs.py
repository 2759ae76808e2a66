"""A run's output on its way to the store: a tee that keeps what it forwards.

Every backend writes its container's (or process's) output, line by line, to the
text sink it was opened with. Opened with a `LogCapture`, that output still reaches
the user's terminal and is also kept, per attempt, so the run pipeline can store it
(`runs/<id>/attempts/<n>/log.txt`) while the attempt runs and when it ends.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from collections.abc import Callable
from typing import IO

# What a stored log keeps at most: the end of a longer output, after a note.
MAX_LOG_CHARS = 8 * 1024 * 1024
# Logs longer than this are stored when the attempt ends only, not re-sent while it runs.
MAX_LIVE_CHARS = 1024 * 1024


class LogCapture(io.TextIOBase):
    """A writable text stream forwarding to `downstream` and keeping the last
    `limit` characters written since the last `take()`. Thread-safe."""

    def __init__(self, downstream: IO[str] | None = None, *, limit: int = MAX_LOG_CHARS) -> None:
        super().__init__()
        self.downstream = downstream
        self.limit = limit
        self._chunks: deque[str] = deque()
        self._size = 0
        self._dropped = 0
        self._version = 0
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if self.downstream is not None:
            self.downstream.write(s)
        with self._lock:
            self._chunks.append(s)
            self._size += len(s)
            self._version += 1
            while self._size > self.limit and len(self._chunks) > 1:
                dropped = self._chunks.popleft()
                self._size -= len(dropped)
                self._dropped += len(dropped)
        return len(s)

    def flush(self) -> None:
        if self.downstream is not None:
            self.downstream.flush()

    def snapshot(self) -> tuple[int, str]:
        """(a counter that changes with every write, the text kept so far)."""
        with self._lock:
            return self._version, self._text()

    def take(self) -> str:
        """The text kept since the last take(), and start again (a new attempt)."""
        with self._lock:
            text = self._text()
            self._chunks.clear()
            self._size = self._dropped = 0
            self._version += 1
            return text

    def _text(self) -> str:
        text = "".join(self._chunks)
        if self._dropped:
            return f"[pack: the first {self._dropped} characters of this log were not kept]\n{text}"
        return text


class LiveLog:
    """While an attempt runs, write what `capture` has kept through `save` every
    `interval` seconds when it changed, so a reader of the store can follow it.

    A failed write here is retried at the next tick; the write when the attempt
    ends is the one whose failure is reported."""

    def __init__(
        self, capture: LogCapture, save: Callable[[str], None], *, interval: float = 2.0
    ) -> None:
        self.capture = capture
        self.save = save
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pack-live-log", daemon=True)
        self._seen = -1

    def __enter__(self) -> LiveLog:
        self._seen = self.capture.snapshot()[0]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            version, text = self.capture.snapshot()
            if version == self._seen or len(text) > MAX_LIVE_CHARS:
                continue
            try:
                self.save(text)
                self._seen = version
            except Exception:  # noqa: BLE001, S112 - a live view; the final write reports
                continue
