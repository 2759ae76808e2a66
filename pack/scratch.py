"""Scratch files and folders that a killed pack leaves behind are removed by the next one.

SIGKILL (the OOM killer, `kill -9`, a CI job cancelled hard) runs no cleanup: a bundle
archive being uploaded, a local run's working folder, a build's context stay on disk, up
to a bundle's size each. So each scratch file or folder holds an flock while a process
uses it (a folder through a `.pack-lock` file inside it), and making a new one sweeps
the ones of the same kind in the same place that nobody holds any more. A lock is
released only when the last process holding it ends: a local run's folder is passed to
its task with the lock (`Scratch.lock_fd`), so a task still running after its client was
killed keeps its folder. Anything without pack's lock, or younger than MIN_AGE (its maker
may be about to lock it), is never touched.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LOCK = ".pack-lock"
# Seconds: its maker locks a new scratch file or folder microseconds after creating it.
MIN_AGE = 10.0


@dataclass(frozen=True)
class Scratch:
    path: Path
    lock_fd: int  # hand it to a child process (pass_fds) to keep the folder while it runs


def _lock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _abandoned(lock_path: Path) -> bool:
    """Nobody holds `lock_path`'s lock (taking it for a moment says so)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        _lock(fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def sweep(folder: Path, prefix: str, suffix: str = "") -> list[Path]:
    """Remove the scratch files and folders named `prefix*suffix` in `folder` that a killed
    process left; what was removed. Never raises: a sweep is housekeeping."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = [
            e for e in os.scandir(folder) if e.name.startswith(prefix) and e.name.endswith(suffix)
        ]
    except OSError:
        return removed
    for entry in entries:
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < MIN_AGE:
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if (path / LOCK).is_file() and _abandoned(path / LOCK):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
            elif entry.is_file(follow_symlinks=False) and _abandoned(path):
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


@contextmanager
def scratch_file(folder: Path, prefix: str, suffix: str = "") -> Iterator[tuple[int, Path]]:
    """(fd, path) of a new temp file in `folder`, locked until the block ends, then
    removed. The caller may close `fd` (the lock is held on a copy of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    sweep(folder, prefix)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    held = os.dup(fd)
    try:
        _lock(held)
        yield fd, Path(name)
    finally:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
        os.close(held)


@contextmanager
def scratch_dir(
    prefix: str, parent: Path | None = None, *, keep: bool = False, kind: str | None = None
) -> Iterator[Scratch]:
    """A new temp folder named `prefix*` (in `parent`, default the temp dir), locked until
    the block ends, then removed; with `keep` it stays and is no longer swept. Abandoned
    folders named `kind*` (default: `prefix`) are swept first."""
    parent = Path(tempfile.gettempdir()) if parent is None else parent
    parent.mkdir(parents=True, exist_ok=True)
    sweep(parent, prefix if kind is None else kind)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    fd = os.open(path / LOCK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _lock(fd)
        yield Scratch(path, fd)
    finally:
        if keep:
            (path / LOCK).unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
