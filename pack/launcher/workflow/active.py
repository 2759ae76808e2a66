"""The driver of this process, if any: what a task call asks before running as itself.

One slot per process, not a context variable: a workflow body may call tasks from
threads it starts itself (a ThreadPoolExecutor does not carry context variables),
and a process runs one task (or one attached workflow) at a time. The slot holds a
factory so that a task which never calls another task never builds a driver
(no spec read, no backend opened).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_factory: Callable[[], Any] | None = None
_driver: Any = None


def current_driver() -> Any:
    """The active driver (built on first use), or None outside a driver."""
    global _driver
    if _driver is not None or _factory is None:
        return _driver
    with _lock:
        if _driver is None and _factory is not None:
            _driver = _factory()
        return _driver


def built_driver() -> Any:
    """The driver if one was built, without building it."""
    return _driver


@contextmanager
def driving(factory: Callable[[], Any]) -> Iterator[None]:
    """Make `factory()`'s driver the active one (built lazily) inside the block; then
    close it if it was built. Nested use keeps the outer driver."""
    global _factory, _driver
    with _lock:
        if _factory is not None:
            outer = True
        else:
            outer = False
            _factory = factory
    if outer:
        yield
        return
    try:
        yield
    finally:
        with _lock:
            driver, _driver, _factory = _driver, None, None
        if driver is not None:
            driver.close()
