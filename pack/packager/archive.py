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

from pack.errors import PackageError
from pack.packager.treedigest import Kind, encode_path

BLOCK = 512
RECORD = 20 * BLOCK
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


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def _header(name: bytes, mode: int, size: int, typeflag: bytes, linkname: bytes) -> bytes:
    fields = [
        name.ljust(100, b"\x00"),
        _octal(mode, 8),
        _octal(0, 8),  # uid
        _octal(0, 8),  # gid
        _octal(size, 12),
        _octal(MTIME, 12),
        b" " * 8,  # checksum placeholder
        typeflag,
        linkname.ljust(100, b"\x00"),
        b"ustar\x0000",
        b"\x00" * 32,  # uname
        b"\x00" * 32,  # gname
        _octal(0, 8),  # devmajor
        _octal(0, 8),  # devminor
        b"\x00" * 155,  # prefix
        b"\x00" * 12,
    ]
    header = bytearray(b"".join(fields))
    assert len(header) == BLOCK
    header[148:156] = b"%06o\x00 " % sum(header)
    return bytes(header)


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length += 1
    return str(length).encode() + body


def _padding(size: int) -> bytes:
    return b"\x00" * (-size % BLOCK)


def member_headers(member: Member) -> bytes:
    """The header block(s) for one member: a PAX header first when ustar cannot hold it."""
    name = encode_path(member.path)
    link = encode_path(member.link_target) if member.kind == "symlink" else b""
    size = member.size if member.kind == "file" else 0
    records = b""
    if len(name) > 100 or not name.isascii():
        records += _pax_record("path", name)
        name = name[:100]
    if len(link) > 100 or not link.isascii():
        records += _pax_record("linkpath", link)
        link = link[:100]
    if size >= 8**11:
        records += _pax_record("size", str(size).encode())
    out = b""
    if records:
        out = _header(_PAX_NAME, 0o644, len(records), b"x", b"") + records + _padding(len(records))
    if member.kind == "symlink":
        return out + _header(name, 0o777, 0, b"2", link)
    mode = 0o755 if member.executable else 0o644
    return out + _header(name, mode, size if size < 8**11 else 0, b"0", b"")


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
    out.write(_padding(member.size))


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
            total += member.size + len(_padding(member.size))
    end = b"\x00" * (2 * BLOCK)
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
