"""Calls that run beside the run pipeline: store reads and writes that need not hold it up.

A thread per call, not a pool: concurrent.futures is not imported on a local run's path,
and there are only ever a handful (the writes an attempt reads, the reads after it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Background:
    """Named calls, each started in a daemon thread the moment it is added; `result(name)`
    waits for one and raises what it raised, `wait()` for all of them."""

    def __init__(self) -> None:
        self._threads: dict[str, threading.Thread] = {}
        self._results: dict[str, tuple[bool, Any]] = {}

    def start(self, name: str, fn: Callable[..., Any], *args: Any) -> None:
        if name in self._threads:
            raise ValueError(f"a background call named {name!r} was already started")
        thread = threading.Thread(
            target=self._call, args=(name, fn, args), name=f"pack-{name}", daemon=True
        )
        self._threads[name] = thread
        thread.start()

    def _call(self, name: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._results[name] = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - raised again by result()/wait()
            self._results[name] = (False, exc)

    def result(self, name: str) -> Any:
        self._threads[name].join()
        ok, value = self._results[name]
        if not ok:
            raise value
        return value

    def wait(self) -> None:
        """Every call done; the first one's error (in start order) is raised."""
        self.settle()
        for name in list(self._threads):
            ok, value = self._results[name]
            if not ok:
                raise value

    def settle(self) -> None:
        """Every call done, their errors dropped: on a path that is already failing, so
        that nothing is left half written when the process ends."""
        for thread in list(self._threads.values()):
            thread.join()
