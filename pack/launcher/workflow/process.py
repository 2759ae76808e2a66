"""Which process drives an attached run on this machine, so `pack cancel` can stop it.

Written by `pack run` into the user's cache dir (never a store: a pid means nothing
elsewhere) while the run is attached, removed when it ends. The process's start
time (Linux: /proc/<pid>/stat) guards against a reused pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "driver-process.json"


@dataclass(frozen=True)
class DriverProcess:
    execution_id: str
    pid: int
    host: str
    started: str | None  # the kernel's start time of the pid, when known
    backend: str
    store_url: str


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime), counted after the parenthesised command name.
    return stat.rpartition(")")[2].split()[19]


def process_path(cache_dir: Path, execution_id: str) -> Path:
    return cache_dir / "runs" / execution_id / FILE_NAME


@contextlib.contextmanager
def driver_process(
    cache_dir: Path, execution_id: str, *, backend: str, store_url: str
) -> Iterator[None]:
    """This process drives `execution_id` inside the block."""
    from pack.atomic import atomic_write

    pid = os.getpid()
    record = DriverProcess(
        execution_id, pid, socket.gethostname(), _start_time(pid), backend, store_url
    )
    path = process_path(cache_dir, execution_id)
    data = json.dumps(asdict(record)).encode()
    atomic_write(path, lambda f: f.write(data), durable=False)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def read_driver_process(cache_dir: Path, execution_id: str) -> DriverProcess | None:
    """The driver of `execution_id` if it still runs on this machine, else None."""
    try:
        raw = json.loads(process_path(cache_dir, execution_id).read_bytes())
        record = DriverProcess(**raw)
    except (OSError, ValueError, TypeError):
        return None
    if record.host != socket.gethostname() or record.execution_id != execution_id:
        return None
    if record.started is not None and _start_time(record.pid) != record.started:
        return None  # gone, and the pid belongs to someone else now
    return record


def stop_process(record: DriverProcess, signum: int, *, wait_seconds: float = 60.0) -> bool:
    """Signal the driver and wait until it is gone (it stops its children first)."""
    import time

    try:
        os.kill(record.pid, signum)
    except OSError:
        return False
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if _start_time(record.pid) != record.started or record.started is None:
            break
        time.sleep(0.1)
    return True
