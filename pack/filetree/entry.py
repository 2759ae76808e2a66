"""What a listing holds: the files to ship and the paths left out, with their reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Kind = Literal["file", "symlink"]


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


@dataclass
class Listing:
    root: Path
    files: list[FileEntry] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
