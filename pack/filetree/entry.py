"""What a listing holds: the files to ship and the paths left out, with their reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Kind = Literal["file", "symlink"]
# Why a path was left out; callers word their advice by it.
Why = Literal[
    "default", "ignore-file", "secret", "virtualenv", "not-a-file", "loop", "not-imported"
]


@dataclass(frozen=True)
class FileEntry:
    """A file or symlink to pack; `source` is where its bytes are read from."""

    path: str
    kind: Kind
    executable: bool
    size: int
    mtime_ns: int
    ino: int
    ctime_ns: int
    source: Path
    link_target: str = ""


@dataclass(frozen=True)
class Excluded:
    path: str
    reason: str
    is_dir: bool = False
    why: Why = "ignore-file"

    def covers(self, path: str) -> bool:
        """Whether leaving this out leaves `path` out (itself, or below a folder)."""
        return path == self.path or (self.is_dir and path.startswith(self.path + "/"))


@dataclass
class Listing:
    root: Path
    files: list[FileEntry] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
