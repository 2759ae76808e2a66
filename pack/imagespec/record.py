"""The local record of image refs pack has confirmed in a registry (or built locally).

It lets a repeat `pack build` skip even the registry HEAD for a ref confirmed
less than `ttl` seconds ago, and it remembers, per spec digest, where that
content was last pushed, so a renamed or moved spec is copied, not rebuilt.

One JSON file, rewritten atomically (temp file + rename) after merging with what
is on disk, so concurrent pack processes lose at most an entry, never the file.
A corrupt or unreadable record is treated as empty: it is a cache, not a truth.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pack.atomic import atomic_write

RECORD_VERSION = 1
FILE_NAME = "image-record.json"


@dataclass(frozen=True)
class RecordEntry:
    ref: str  # registry/repository:tag as built (the key)
    spec_digest: str  # sha256:... of the resolved spec: what the content is
    digest: str | None  # manifest digest, when known
    confirmed_at: float  # unix seconds
    local: bool = False  # only in the local engine (spec.registry None or --no-push)


def _parse(data: Any) -> dict[str, RecordEntry]:
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        return {}
    out: dict[str, RecordEntry] = {}
    entries = data.get("entries")
    if not isinstance(entries, dict):
        return {}
    for key, value in entries.items():
        try:
            entry = RecordEntry(**value)
        except TypeError:
            continue
        if entry.ref == key and isinstance(entry.confirmed_at, (int, float)):
            out[key] = entry
    return out


class ImageRecord:
    """Thread-safe access to the record file under the cache dir."""

    def __init__(self, path: Path, ttl_seconds: float, clock: Callable[[], float] = time.time):
        self.path = path
        self.ttl = ttl_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, RecordEntry] | None = None

    @classmethod
    def in_cache(cls, cache_dir: Path, ttl_seconds: float) -> ImageRecord:
        return cls(cache_dir / FILE_NAME, ttl_seconds)

    def _read(self) -> dict[str, RecordEntry]:
        try:
            return _parse(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    def _load(self) -> dict[str, RecordEntry]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def fresh(self, ref: str, spec_digest: str, *, local: bool = False) -> RecordEntry | None:
        """The entry for `ref` if it was confirmed within the TTL for this same content."""
        with self._lock:
            entry = self._load().get(ref)
        if entry is None or entry.spec_digest != spec_digest or entry.local != local:
            return None
        age = self.clock() - entry.confirmed_at
        return entry if 0 <= age <= self.ttl else None

    def elsewhere(self, spec_digest: str, not_ref: str) -> list[RecordEntry]:
        """Registry refs that held this content, newest first (candidates for a copy)."""
        with self._lock:
            entries = list(self._load().values())
        found = [
            e for e in entries if e.spec_digest == spec_digest and e.ref != not_ref and not e.local
        ]
        return sorted(found, key=lambda e: e.confirmed_at, reverse=True)

    def entries(self) -> dict[str, RecordEntry]:
        """Every entry, as the file holds them now (`pack gc` reads their ages)."""
        with self._lock:
            self._entries = self._read()
            return dict(self._entries)

    def forget(self, ref: str) -> None:
        with self._lock:
            self._entries = self._read()
            if self._entries.pop(ref, None) is not None:
                self._write(self._entries)

    def remember(
        self, ref: str, spec_digest: str, digest: str | None, *, local: bool = False
    ) -> RecordEntry:
        entry = RecordEntry(ref, spec_digest, digest, self.clock(), local)
        with self._lock:
            # Merge with the file as it is now: another pack process may have written to it.
            merged = self._read()
            merged[ref] = entry
            self._entries = merged
            self._write(merged)
        return entry

    def _write(self, entries: dict[str, RecordEntry]) -> None:
        payload = {
            "version": RECORD_VERSION,
            "entries": {k: asdict(v) for k, v in sorted(entries.items())},
        }
        data = json.dumps(payload, indent=1, sort_keys=True).encode("utf-8")
        try:
            atomic_write(self.path, lambda f: f.write(data))
        except OSError:
            # The record only saves time; failing to write it must not fail a build.
            pass
