"""Content hashes of listed files, re-read only when their stat changed.

The cache maps a relative path to (size, mtime_ns, inode, ctime_ns, sha256) for
one source root. It is JSON written atomically; anything unreadable is treated
as empty and rewritten. A file modified within the last few seconds is hashed but
not cached: a later edit in the same timestamp tick could otherwise go unseen.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from pack.atomic import atomic_write
from pack.digest import Digest
from pack.errors import PackageError
from pack.filetree.entry import FileEntry

CACHE_VERSION = 1
RACY_WINDOW_NS = 2_000_000_000
Stamp = tuple[int, int, int, int]


def cache_path(cache_dir: Path, root: Path, kind: str = "statcache") -> Path:
    """Where a per-source-root cache of `kind` lives (the stat cache, the import cache)."""
    key = hashlib.sha256(os.fsencode(os.path.realpath(root))).hexdigest()[:32]
    return cache_dir / "packager" / kind / f"{key}.json"


def load(path: Path) -> dict[str, tuple[Stamp, str]]:
    try:
        data = json.loads(path.read_bytes())
        if data.get("version") != CACHE_VERSION:
            return {}
        return {
            rel: ((int(v[0]), int(v[1]), int(v[2]), int(v[3])), str(v[4]))
            for rel, v in data["entries"].items()
            if isinstance(v, list) and len(v) == 5 and len(str(v[4])) == 64
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return {}  # absent or corrupt: rebuilt below


def save(path: Path, entries: dict[str, tuple[Stamp, str]]) -> None:
    payload = {
        "version": CACHE_VERSION,
        "entries": {rel: [*stamp, digest] for rel, (stamp, digest) in entries.items()},
    }
    data = json.dumps(payload, separators=(",", ":")).encode()
    try:
        atomic_write(path, lambda f: f.write(data), durable=False)
    except OSError:
        pass  # a cache that cannot be written only costs speed next time


def stamp_of(entry: FileEntry) -> Stamp:
    return (entry.size, entry.mtime_ns, entry.ino, entry.ctime_ns)


def hash_file(entry: FileEntry) -> str:
    try:
        return Digest.of_file(entry.source).hex
    except FileNotFoundError:
        raise PackageError(f"{entry.path} vanished while it was being hashed") from None
    except OSError as exc:
        raise PackageError(f"cannot read {entry.path}: {exc.strerror or exc}") from None


def content_hashes(
    entries: Iterable[FileEntry], cache_file: Path | None, *, prune: bool = True
) -> dict[str, str]:
    """sha256 hex of every regular file in `entries`, using and refreshing the stat cache.

    `prune` drops cached paths not in `entries` (they were deleted); a partial listing
    (`--copy auto`) passes False so it does not evict what a full run cached.
    """
    cached = load(cache_file) if cache_file is not None else {}
    fresh: dict[str, tuple[Stamp, str]] = {} if prune else dict(cached)
    out: dict[str, str] = {}
    now = time.time_ns()
    changed = False
    for entry in entries:
        if entry.kind != "file":
            continue
        stamp = stamp_of(entry)
        hit = cached.get(entry.path)
        if hit is not None and hit[0] == stamp:
            out[entry.path] = hit[1]
            fresh[entry.path] = hit
            continue
        fresh.pop(entry.path, None)
        digest = hash_file(entry)
        out[entry.path] = digest
        changed = True
        if now - entry.mtime_ns > RACY_WINDOW_NS:
            fresh[entry.path] = (stamp, digest)
    if cache_file is not None and (changed or fresh.keys() != cached.keys()):
        save(cache_file, fresh)
    return out
