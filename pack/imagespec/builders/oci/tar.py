"""A deterministic tar writer for image layers (pure: entries in, bytes out).

Python's tarfile is not used on purpose: its headers differ between Python versions
(pax records, padding to 10 KiB), and a layer must be the same bytes whichever host
Python writes it. Here every field is fixed: uid/gid 0, no user or group names, one
mtime for every entry, ustar headers with a pax record only for a path or link target
that does not fit (or is not ASCII), two zero blocks at the end, no record padding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pack import ustar

REGULAR, SYMLINK, DIRECTORY, PAX = b"0", b"2", b"5", b"x"


Chunks = Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class Entry:
    """One member of a layer. `path` is relative to the image root, posix, no leading '/'.

    A regular file's content is `data`, or `stream` (called once, when the entry is
    written) yielding exactly `length` bytes: big wheels are copied member by member,
    never held in memory whole.
    """

    path: str
    kind: bytes = REGULAR
    mode: int = 0o644
    data: bytes = field(default=b"", repr=False)
    linkname: str = ""
    stream: Chunks | None = field(default=None, repr=False, compare=False)
    length: int = 0

    @property
    def size(self) -> int:
        if self.kind != REGULAR:
            return 0
        return self.length if self.stream is not None else len(self.data)

    def chunks(self) -> Iterator[bytes]:
        if self.stream is None:
            yield self.data
            return
        total = 0
        for chunk in self.stream():
            total += len(chunk)
            yield chunk
        if total != self.length:
            raise ValueError(f"{self.path}: expected {self.length} bytes, read {total}")


def file(path: str, data: bytes, *, executable: bool = False) -> Entry:
    return Entry(path, REGULAR, 0o755 if executable else 0o644, data)


def streamed(path: str, length: int, stream: Chunks, *, executable: bool = False) -> Entry:
    return Entry(path, REGULAR, 0o755 if executable else 0o644, stream=stream, length=length)


def directory(path: str, mode: int = 0o755) -> Entry:
    return Entry(path.rstrip("/"), DIRECTORY, mode)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, SYMLINK, 0o777, linkname=target)


def check_path(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"layer path {path!r} must be relative, normalized and inside the image")


def _split_ustar(name: str) -> tuple[bytes, bytes] | None:
    """(prefix, name) for a ustar header, or None when the path needs a pax record."""
    raw = name.encode("utf-8")
    if not name.isascii():
        return None
    if len(raw) <= 100:
        return b"", raw
    # Split at a '/' so that prefix <= 155 and name <= 100 bytes.
    for i in range(min(len(raw) - 1, 155), 0, -1):
        if raw[i : i + 1] == b"/" and len(raw) - i - 1 <= 100:
            return raw[:i], raw[i + 1 :]
    return None


def _header(
    name: str, kind: bytes, mode: int, size: int, mtime: int, linkname: str
) -> tuple[bytes, dict[str, str]]:
    pax: dict[str, str] = {}
    split = _split_ustar(name)
    if split is None:
        pax["path"] = name
        prefix, short = b"", name.encode("ascii", "replace")[-100:]
    else:
        prefix, short = split
    link = linkname.encode("utf-8")
    if len(link) > 100 or not linkname.isascii():
        pax["linkpath"] = linkname
        link = b""
    if size >= 8**11:
        pax["size"] = str(size)
        size = 0
    header = ustar.header(
        short, mode=mode, size=size, mtime=mtime, typeflag=kind, linkname=link, prefix=prefix
    )
    return header, pax


def entry_bytes(entry: Entry, mtime: int) -> Iterable[bytes]:
    """The header block(s) and the padded data of one entry."""
    name = entry.path + ("/" if entry.kind == DIRECTORY else "")
    header, pax = _header(name, entry.kind, entry.mode, entry.size, mtime, entry.linkname)
    if pax:
        body = b"".join(ustar.pax_record(k, v.encode()) for k, v in sorted(pax.items()))
        pax_name = "PaxHeaders/" + entry.path.rsplit("/", 1)[-1]
        pax_name = pax_name.encode("ascii", "replace")[:99].decode("ascii")
        pax_header, _ = _header(pax_name, PAX, 0o644, len(body), mtime, "")
        yield pax_header
        yield body + ustar.padding(len(body))
    yield header
    if entry.size:
        yield from entry.chunks()
        yield ustar.padding(entry.size)


def sort_key(entry: Entry) -> tuple[str, ...]:
    # Path components, so `a/b` sorts right after `a` and before `a-b`: parents first.
    return tuple(entry.path.split("/"))


def write_tar(entries: Iterable[Entry], write: Callable[[bytes], object], mtime: int) -> None:
    """Write `entries` (sorted by path, checked, no duplicates) as one tar stream."""
    ordered = sorted(entries, key=sort_key)
    seen: set[str] = set()
    for entry in ordered:
        check_path(entry.path)
        if entry.path in seen:
            raise ValueError(f"layer path {entry.path!r} appears twice")
        seen.add(entry.path)
        for chunk in entry_bytes(entry, mtime):
            write(chunk)
    write(b"\0" * (2 * ustar.BLOCK))
