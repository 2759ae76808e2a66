"""Tar header blocks, encoded here rather than by `tarfile` (whose headers change
between Python versions): one encoding for the two deterministic writers, bundles
(pack.packager.archive) and image layers (pack.imagespec.builders.oci.tar), which
choose their own names, modes, ordering and when a PAX record is needed.

Every header is ustar with uid/gid 0, no user or group names and no device numbers.
"""

from __future__ import annotations

BLOCK = 512
MAGIC = b"ustar\x0000"


def octal(value: int, width: int) -> bytes:
    """A NUL-terminated, zero-padded octal field of `width` bytes."""
    text = b"%o" % value
    if len(text) > width - 1:
        raise ValueError(f"{value} does not fit a {width}-byte tar field")
    return text.rjust(width - 1, b"0") + b"\x00"


def header(
    name: bytes,
    *,
    mode: int,
    size: int,
    mtime: int,
    typeflag: bytes,
    linkname: bytes = b"",
    prefix: bytes = b"",
) -> bytes:
    """One 512-byte ustar header block (name and linkname up to 100 bytes, prefix 155)."""
    block = bytearray(BLOCK)
    block[0:100] = name.ljust(100, b"\x00")
    block[100:108] = octal(mode, 8)
    block[108:116] = octal(0, 8)  # uid
    block[116:124] = octal(0, 8)  # gid
    block[124:136] = octal(size, 12)
    block[136:148] = octal(mtime, 12)
    block[148:156] = b" " * 8  # the checksum counts its own field as spaces
    block[156:157] = typeflag
    block[157:257] = linkname.ljust(100, b"\x00")
    block[257:265] = MAGIC
    # uname, gname (265:329) stay empty.
    block[329:337] = octal(0, 8)  # devmajor
    block[337:345] = octal(0, 8)  # devminor
    block[345:500] = prefix.ljust(155, b"\x00")
    if len(block) != BLOCK:
        raise ValueError(f"a tar header field is too long: {name!r}")
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


def pax_record(key: str, value: bytes) -> bytes:
    """`LEN key=value\\n`, where LEN counts the whole record, its own digits included."""
    body = b" " + key.encode() + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def padding(size: int) -> bytes:
    """The NULs that fill `size` bytes up to a whole block."""
    return b"\x00" * (-size % BLOCK)
