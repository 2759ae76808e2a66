"""The imports of listed Python files, re-parsed only when their stat changed.

Following an entry's imports (`--copy auto`, and `--copy all` when an ignore rule could
hide a module) parses every module it reaches; on a large project that is seconds, so a
warm run reads the import lists back from a JSON cache keyed like the stat cache (size,
mtime, inode, ctime) and parses only what changed. Unreadable means empty; writes are
atomic; a file changed within the racy window is parsed but not cached.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pack.atomic import atomic_write
from pack.errors import PackageError
from pack.filetree.entry import FileEntry
from pack.packager.imports import Import, imported_modules
from pack.packager.statcache import RACY_WINDOW_NS, Stamp, stamp_of

CACHE_VERSION = 1


def _decode(value: Any) -> tuple[Stamp, list[Import]]:
    stamp, rows = value
    s = (int(stamp[0]), int(stamp[1]), int(stamp[2]), int(stamp[3]))
    imports = [
        Import(int(level), str(module), tuple(str(n) for n in names), int(line), bool(optional))
        for level, module, names, line, optional in rows
    ]
    return s, imports


class ImportReader:
    """`read(path)` -> the imports of a listed file, from the cache when its stat matches."""

    def __init__(self, files: dict[str, FileEntry], cache_file: Path | None) -> None:
        self.files = files
        self.cache_file = cache_file
        self.cached: dict[str, tuple[Stamp, list[Import]]] = {}
        self.changed = False
        if cache_file is not None:
            try:
                data = json.loads(cache_file.read_bytes())
                if data.get("version") == CACHE_VERSION:
                    self.cached = {rel: _decode(v) for rel, v in data["entries"].items()}
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                self.cached = {}  # absent or corrupt: rebuilt as files are read

    def __call__(self, path: str) -> list[Import]:
        entry = self.files[path]
        stamp = stamp_of(entry)
        hit = self.cached.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        try:
            text = entry.source.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise PackageError(f"cannot read {path}: {exc.strerror or exc}") from None
        found = imported_modules(text, path)
        if time.time_ns() - entry.mtime_ns > RACY_WINDOW_NS:
            self.cached[path] = (stamp, found)
            self.changed = True
        else:
            self.cached.pop(path, None)
        return found

    def save(self) -> None:
        if self.cache_file is None or not self.changed:
            return
        entries = {
            rel: [
                list(stamp),
                [[i.level, i.module, list(i.names), i.line, i.optional] for i in imps],
            ]
            for rel, (stamp, imps) in self.cached.items()
            if rel in self.files
        }
        data = json.dumps({"version": CACHE_VERSION, "entries": entries}, separators=(",", ":"))
        try:
            atomic_write(self.cache_file, lambda f: f.write(data.encode()), durable=False)
        except OSError:
            pass  # a cache that cannot be written only costs speed next time
