"""Waiting for a Kubernetes object to disappear, shared by the cluster tests."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_gone(read: Callable[[], object], seconds: float = 120) -> bool:
    """True once `read` answers 404 (polled: the garbage collector works on its own time)."""
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            read()
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        time.sleep(0.5)
    return False
