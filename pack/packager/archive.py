"""Deterministic PAX tar, written header by header, compressed with zstd or gzip.

The tar bytes depend only on the entries: sorted paths, mtime 0, uid/gid 0, empty
owner names, mode 0644 or 0755 (0777 for links), no directory entries. Headers are
built here rather than by `tarfile` so no Python version can change them. Each
file's content is hashed while it is copied and checked against the digest it had
when the tree digest was computed, so a file edited mid-run cannot slip in.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pack import ustar
from pack.errors import PackageError
from pack.packager.treedigest import Kind, encode_path

RECORD = 20 * ustar.BLOCK
MTIME = 0
COMPRESSIONS = ("zstd", "gzip")
SUFFIXES = {"zstd": ".tar.zst", "gzip": ".tar.gz"}
ZSTD_LEVEL = 3
GZIP_LEVEL = 6
_PAX_NAME = b"././@PaxHeader"


@dataclass(frozen=True)
class Member:
    """What goes into the archive for one entry; `source` or `data` holds a file's bytes."""

    path: str
    kind: Kind
    executable: bool = False
    size: int = 0
    link_target: str = ""
    source: Path | None = None
    data: bytes | None = None
    sha256: str | None = None  # expected content digest, verified while copying


def member_headers(member: Member) -> bytes:
    """The header block(s) for one member: a PAX header first when ustar cannot hold it."""
    name = encode_path(member.path)
    link = encode_path(member.link_target) if member.kind == "symlink" else b""
    size = member.size if member.kind == "file" else 0
    records = b""
    if len(name) > 100 or not name.isascii():
        records += ustar.pax_record("path", name)
        name = name[:100]
    if len(link) > 100 or not link.isascii():
        records += ustar.pax_record("linkpath", link)
        link = link[:100]
    if size >= 8**11:
        records += ustar.pax_record("size", str(size).encode())
    out = b""
    if records:
        pax = ustar.header(_PAX_NAME, mode=0o644, size=len(records), mtime=MTIME, typeflag=b"x")
        out = pax + records + ustar.padding(len(records))
    if member.kind == "symlink":
        mode, typeflag = 0o777, b"2"
    else:
        mode, typeflag = (0o755 if member.executable else 0o644), b"0"
    size = size if size < 8**11 else 0
    return out + ustar.header(
        name, mode=mode, size=size, mtime=MTIME, typeflag=typeflag, linkname=link
    )


def _copy_file(member: Member, out: BinaryIO) -> None:
    h = hashlib.sha256()
    written = 0
    if member.data is not None:
        h.update(member.data)
        out.write(member.data)
        written = len(member.data)
    else:
        assert member.source is not None
        try:
            with open(member.source, "rb") as f:
                while written <= member.size:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                    out.write(chunk[: max(0, member.size - written)])
                    written += len(chunk)
        except OSError as exc:
            raise PackageError(f"cannot read {member.source}: {exc.strerror or exc}") from None
    if written != member.size or (member.sha256 is not None and h.hexdigest() != member.sha256):
        raise PackageError(f"{member.path} changed while it was being packaged; run again")
    out.write(ustar.padding(member.size))


def write_tar(members: Iterable[Member], out: BinaryIO) -> int:
    """Write the tar stream for `members` (sorted here) to `out`; returns the bytes written."""
    ordered = sorted(members, key=lambda m: encode_path(m.path))
    total = 0
    for member in ordered:
        header = member_headers(member)
        out.write(header)
        total += len(header)
        if member.kind == "file":
            _copy_file(member, out)
            total += member.size + len(ustar.padding(member.size))
    end = b"\x00" * (2 * ustar.BLOCK)
    end += b"\x00" * (-(total + len(end)) % RECORD)
    out.write(end)
    return total + len(end)


@contextmanager
def compressed_writer(out: BinaryIO, compression: str) -> Iterator[BinaryIO]:
    """A writer compressing into `out` with fixed settings, so equal input gives equal output."""
    if compression == "zstd":
        import zstandard

        cctx = zstandard.ZstdCompressor(
            level=ZSTD_LEVEL, write_checksum=True, write_content_size=False, threads=0
        )
        with cctx.stream_writer(out, closefd=False) as writer:
            yield writer  # type: ignore[misc]
    elif compression == "gzip":
        # No file name and mtime 0 in the gzip header.
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=out, compresslevel=GZIP_LEVEL, mtime=0
        ) as gz:
            yield gz  # type: ignore[misc]
    else:
        raise PackageError(f"unknown compression {compression!r}; use one of: zstd, gzip")


def write_bundle(members: Iterable[Member], out: BinaryIO, compression: str = "zstd") -> None:
    with compressed_writer(out, compression) as writer:
        write_tar(members, writer)
