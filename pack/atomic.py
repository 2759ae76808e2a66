"""Write a file so readers see all of it or none of it: a temp file in its folder, then rename.

Files are created with mode 0666 and the process umask applied by the kernel, as `open()`
would create them: a user whose umask is 077 gets 0600 bundles, inputs and records, never
a world-readable copy of their source.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def _create_temp(folder: Path, name: str) -> tuple[int, str]:
    for _ in range(100):
        tmp = str(folder / f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, _CREATE, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp name beside {folder / name}")


def atomic_write(dest: Path, fill: Callable[[BinaryIO], object], *, durable: bool = True) -> None:
    """Write `dest` via a temp file in its folder and os.replace, so readers see all or nothing.

    The temp file is flocked until it is renamed: one a killed process left (`.NAME.*.tmp`)
    is told apart from one being written, and `pack.scratch.sweep` may remove it.
    `durable`: the data reaches the disk before the rename (fsync), so a crash of the
    machine cannot leave an empty file under the name. Caches and notes whose readers
    take a bad file for a missing one pass False: an fsync waits for the disk, which a
    busy machine (an image build, etcd) can hold for seconds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(dest.parent, dest.name)
    held = os.dup(fd)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    finally:
        os.close(held)


def umask() -> int:
    """The process umask, read without changing it (Linux: /proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # Elsewhere the only way is to set it and put it back (briefly racy with other threads).
    old = os.umask(0o077)
    os.umask(old)
    return old


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if absent, the folder itself 0700: pack's cache holds
    the user's source (bundles), task inputs and run records. An existing folder is left as
    the user made it."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass
    return path
