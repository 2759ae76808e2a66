"""The end of an attempt, and its log, read from the store ahead of the kubelet.

The kubelet serves a container's log, and reports its state, on a ~1 s clock: a task
that starts and ends between two reports is seen only at the next one, on average half
a second after it ended. A pod started with `PACK_STORE_LOG=1` stores its own log as
`pod-log.txt` beside outputs.pb once the task succeeded (pack.launcher.logcapture). While
the kubelet has not yet shown the container running, `StoredLogPoller` reads that
object now and then; when it is there, and the attempt's log has not begun to come from
the kubelet (`claim`), its lines are shown and the attempt ends on it. Once the
kubelet's log stream begins, that stream shows the log and ends the attempt on the done
line (pack.launcher.backends.donesignal), and the polling stops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

# Between reads: quick while a short task may end any moment, slower as the wait grows
# (an image being pulled): 50 ms for the first 3 s, then 20% longer each time, up to 1 s.
FIRST_DELAY_SECONDS = 0.3  # the container starts ~0.5 s after the create at best
QUICK_DELAY_SECONDS = 0.05
QUICK_FOR_SECONDS = 3.0
SLOWEST_DELAY_SECONDS = 1.0
GROWTH = 1.2
MAX_ERRORS = 5  # reads failing in a row (not "not there yet"): leave it to the kubelet


def delays(first: float = FIRST_DELAY_SECONDS) -> Iterator[float]:
    """The pauses before each read, from the start of polling (`first` before the first)."""
    first = max(0.0, first)
    yield first
    waited = first
    delay = QUICK_DELAY_SECONDS
    while True:
        if waited >= QUICK_FOR_SECONDS:
            delay = min(delay * GROWTH, SLOWEST_DELAY_SECONDS)
        yield delay
        waited += delay


def log_lines_of(data: bytes) -> list[str]:
    """A stored log as the lines a log stream gives (UTF-8, bad bytes replaced; no line
    ends; a last line without its newline kept)."""
    from pack.launcher.backends.k8sapi import split_lines

    return [line.decode("utf-8", errors="replace") for line in split_lines([data])]


class StoredLogPoller:
    """Reads `url` in a thread until it is there, the poller is stopped, or reads keep
    failing. When it is there and `claim()` says the log is still this poller's to
    show, each line goes to `emit` and then `on_done(time.time())` is called."""

    def __init__(
        self,
        url: str,
        *,
        claim: Callable[[], bool],
        emit: Callable[[str], None],
        on_done: Callable[[float], None],
        pauses: Callable[[], Iterator[float]] = delays,
    ) -> None:
        self.url = url
        self.claim, self.emit, self.on_done = claim, emit, on_done
        self._pauses = pauses
        self.reads = 0
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pack-stored-log", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        from pack.errors import ObjectNotFound, StoreError
        from pack.packager.store import read_url

        errors = 0
        for pause in self._pauses():
            if self._stopped.wait(pause):
                return
            self.reads += 1
            try:
                data = read_url(self.url)
            except ObjectNotFound:
                errors = 0
                continue
            except (StoreError, OSError):
                errors += 1
                if errors >= MAX_ERRORS:
                    return
                continue
            if self._stopped.is_set() or not self.claim():
                return
            for line in log_lines_of(data):
                self.emit(line)
            self.on_done(time.time())
            return

    def join(self) -> None:
        self.thread.join()
