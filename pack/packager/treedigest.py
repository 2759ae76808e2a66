"""The tree digest that names a bundle: sha256 over a canonical encoding of its entries.

Each entry is (relative POSIX path, type, exec bit, content sha256 or link target).
Fields are length-prefixed, entries are sorted by the UTF-8 bytes of their path and
the whole is salted with a version string, so `a/bc` and `ab/c` can never collide
and a change of encoding changes every digest on purpose.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from pack.digest import Digest
from pack.filetree.entry import Kind

TREE_SALT = b"pack-tree-v1\x00"
_KIND_BYTE = {"file": b"f", "symlink": b"l"}


@dataclass(frozen=True)
class TreeRecord:
    """One entry as the digest sees it: `content` is a sha256 hex (file) or a link target."""

    path: str
    kind: Kind
    executable: bool
    content: str


def encode_path(path: str) -> bytes:
    # surrogateescape keeps undecodable file names distinct instead of failing.
    return path.encode("utf-8", "surrogateescape")


def _field(data: bytes) -> bytes:
    return struct.pack(">Q", len(data)) + data


def encode_record(record: TreeRecord) -> bytes:
    if record.kind not in _KIND_BYTE:
        raise ValueError(f"unknown entry type {record.kind!r} for {record.path!r}")
    return b"".join(
        (
            _KIND_BYTE[record.kind],
            b"x" if record.executable else b"-",
            _field(encode_path(record.path)),
            _field(encode_path(record.content)),
        )
    )


def tree_digest(records: Iterable[TreeRecord]) -> Digest:
    """The digest of a set of entries; order of the input does not matter, duplicates do."""
    ordered = sorted(records, key=lambda r: encode_path(r.path))
    if not ordered:
        raise ValueError("an empty file set has no tree digest")
    h = hashlib.sha256(TREE_SALT)
    h.update(struct.pack(">Q", len(ordered)))
    previous: str | None = None
    for record in ordered:
        if record.path == previous:
            raise ValueError(f"duplicate entry {record.path!r} in tree")
        previous = record.path
        h.update(encode_record(record))
    return Digest(h.hexdigest())
