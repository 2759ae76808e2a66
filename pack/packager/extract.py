"""Unpack a bundle safely: refuse anything that could escape or explode, verify the digest.

The archive is read as a stream and written member by member into a temp folder
next to the destination, which is renamed into place only when every check
passed: no absolute paths, no `..`, no members below a symlink, no hard links,
devices, fifos or sparse files, no link whose target leaves the destination, no
more bytes than the limits allow, and a tree digest equal to the one in the
bundle's name.

Memory and disk stay bounded whatever the archive says: the download is capped
before anything is written, every decompressed byte (headers, PAX/GNU long names,
padding, data) counts against the budget as it streams, an extended header larger
than `max_header_bytes` is refused before it is read, and a member that would
cross the budget is refused before its file is created.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pack.atomic import umask
from pack.digest import Digest
from pack.errors import ArchiveError, ObjectTooLarge
from pack.packager.store import download_url
from pack.packager.treedigest import TreeRecord, tree_digest

_NAME = re.compile(r"(?:^|/)([0-9a-f]{64})\.tar\.(?:zst|gz)\Z")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"


# A zstd frame names the window its decoder must allocate; pack writes level 3 (2 MiB).
MAX_ZSTD_WINDOW = 16 * 1024 * 1024


@dataclass(frozen=True)
class ExtractLimits:
    """Decompressed bytes (the whole tar stream: headers included) may not exceed
    `max_bytes`, nor `max_ratio` x the compressed size (archives below `ratio_floor`
    uncompressed are exempt from the ratio: tar padding alone makes tiny bundles compress
    very well). One PAX or GNU long-name header may hold `max_header_bytes`; the download
    may be `max_archive_bytes`."""

    max_bytes: int = 4 * 1024**3
    max_ratio: float = 200.0
    ratio_floor: int = 64 * 1024 * 1024
    max_members: int = 1_000_000
    max_header_bytes: int = 1024 * 1024
    max_archive_bytes: int = 4 * 1024**3

    def allowed(self, compressed: int) -> int:
        return min(self.max_bytes, max(int(self.max_ratio * compressed), self.ratio_floor))


def digest_from_url(url: str) -> Digest | None:
    """The tree digest a bundle URL is named by (`.../<hex>.tar.zst`), if it has one."""
    match = _NAME.search(url)
    return Digest(match.group(1)) if match else None


def _compression(archive: Path) -> str:
    try:
        with open(archive, "rb") as raw:
            magic = raw.read(4)
    except OSError as exc:
        raise ArchiveError(f"cannot read {archive.name}: {exc.strerror or exc}") from None
    if magic.startswith(ZSTD_MAGIC):
        return "zstd"
    if magic.startswith(GZIP_MAGIC):
        return "gzip"
    raise ArchiveError(f"{archive.name} is neither zstd nor gzip compressed")


@contextmanager
def _decompressed(archive: Path, compression: str) -> Iterator[BinaryIO]:
    with open(archive, "rb") as raw:
        if compression == "zstd":
            import zstandard

            dctx = zstandard.ZstdDecompressor(max_window_size=MAX_ZSTD_WINDOW)
            with dctx.stream_reader(raw) as reader:
                yield reader  # type: ignore[misc]
        else:
            import gzip

            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield gz  # type: ignore[misc]


class _Budget:
    """The decompressed stream, counted as tarfile reads it: past `limit` bytes, an error.
    No read asks the decompressor for more than one byte past the limit."""

    def __init__(self, inner: BinaryIO, limit: int, name: str, limits: ExtractLimits) -> None:
        self.inner = inner
        self.limit = limit
        self.used = 0
        self.name = name
        self.limits = limits

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:  # tarfile never asks for "all"; refuse rather than slurp
            raise ArchiveError(f"{self.name}: unbounded read of the tar stream")
        data = self.inner.read(min(size, self.limit - self.used + 1))
        self.used += len(data)
        self.check(0)
        return data

    def check(self, more: int) -> None:
        """Refuse if `more` bytes on top of what was read would cross the budget."""
        if self.used + more > self.limit:
            raise ArchiveError(
                f"{self.name} expands to more than {self.limit} bytes "
                f"(limit {self.limits.max_bytes}, ratio {self.limits.max_ratio:g}x); "
                "refusing to extract"
            )


_EXTENDED = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)


def _checked_tarinfo(max_header: int) -> type[tarfile.TarInfo]:
    class CheckedTarInfo(tarfile.TarInfo):
        """Refuses an extended header (PAX, GNU long name) larger than `max_header`
        before tarfile reads it whole into memory, and GNU sparse members (their data
        expands beyond what the stream carries)."""

        def _proc_member(self, tarfile: Any) -> Any:
            if self.type in _EXTENDED and self.size > max_header:
                raise ArchiveError(
                    f"refusing an extended tar header of {self.size} bytes "
                    f"(limit {max_header}): long names and PAX records are far smaller"
                )
            if self.type == GNUTYPE_SPARSE:
                raise ArchiveError(f"refusing sparse member {self.name}")
            return super()._proc_member(tarfile)  # type: ignore[misc]

    return CheckedTarInfo


GNUTYPE_SPARSE = tarfile.GNUTYPE_SPARSE


PATH_MAX = 4096
NAME_MAX = 255


def _check_name(name: str) -> str:
    if len(name) > PATH_MAX or any(len(p) > NAME_MAX for p in name.split("/")):
        size = len(name.encode("utf-8", "surrogateescape"))
        raise ArchiveError(f"refusing member whose name of {size} bytes is too long")
    if not name or "\x00" in name or "\\" in name:
        raise ArchiveError(f"refusing member with an invalid name {name!r}")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ArchiveError(f"refusing member with an absolute path: {name}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"refusing member with '..' in its path: {name}")
    if not parts:
        raise ArchiveError(f"refusing member with an empty path {name!r}")
    return "/".join(parts)


def _check_link_target(name: str, target: str) -> None:
    if not target or target.startswith("/") or "\x00" in target:
        raise ArchiveError(f"refusing symlink {name} -> {target}: absolute or empty target")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise ArchiveError(
            f"refusing symlink {name} -> {target}: it points outside the destination"
        )


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _extract_members(
    archive: Path, compression: str, into: Path, limits: ExtractLimits
) -> list[TreeRecord]:
    records: list[TreeRecord] = []
    links: set[str] = set()
    seen: set[str] = set()
    folders: set[str] = set()
    with _decompressed(archive, compression) as stream:
        budget = _Budget(stream, limits.allowed(archive.stat().st_size), archive.name, limits)
        try:
            tar = tarfile.open(
                fileobj=budget,  # type: ignore[call-overload]
                mode="r|",
                tarinfo=_checked_tarinfo(limits.max_header_bytes),
            )
        except ArchiveError:
            raise
        except tarfile.TarError as exc:
            raise ArchiveError(f"{archive.name} is not a valid tar archive: {exc}") from None
        except Exception as exc:  # zstandard raises its own ZstdError
            raise ArchiveError(f"{archive.name} cannot be decompressed: {exc}") from None
        with tar:
            for member in _iter_members(tar, archive):
                name = _check_name(member.name)
                if len(seen) >= limits.max_members:
                    raise ArchiveError(f"{archive.name} has more than {limits.max_members} entries")
                if name in seen:
                    raise ArchiveError(f"refusing duplicate member {name}")
                parents = name.split("/")[:-1]
                for i in range(1, len(parents) + 1):
                    prefix = "/".join(parents[:i])
                    if prefix in links:
                        raise ArchiveError(
                            f"refusing member {name}: its folder {prefix} is a symlink"
                        )
                    if prefix in seen and prefix not in folders:
                        raise ArchiveError(f"refusing member {name}: {prefix} is not a folder")
                seen.add(name)
                dest = os.path.join(into, name)
                if member.isdir():
                    folders.add(name)
                    os.makedirs(dest, mode=0o755, exist_ok=True)
                    continue
                if member.issym():
                    _check_link_target(name, member.linkname)
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    os.symlink(member.linkname, dest)
                    links.add(name)
                    records.append(TreeRecord(name, "symlink", False, member.linkname))
                    continue
                if member.islnk():
                    target = posixpath.normpath(member.linkname)
                    where = (
                        "outside the destination"
                        if target.startswith("..") or target.startswith("/")
                        else "in a bundle"
                    )
                    raise ArchiveError(
                        f"refusing hard link {name} -> {member.linkname}: hard links are not allowed {where}"
                    )
                if not member.isreg():
                    raise ArchiveError(
                        f"refusing member {name}: devices, fifos and other special files are not allowed"
                    )
                if member.issparse():
                    raise ArchiveError(f"refusing sparse member {name}")
                budget.check(member.size)  # before the file is created
                executable = bool(member.mode & 0o100)
                records.append(
                    TreeRecord(name, "file", executable, _write_file(tar, member, dest, executable))
                )
    return records


def _iter_members(tar: tarfile.TarFile, archive: Path) -> Iterator[tarfile.TarInfo]:
    while True:
        try:
            member = tar.next()
        except ArchiveError:
            raise
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"{archive.name} is corrupt or truncated: {exc}") from None
        except Exception as exc:  # zstandard raises its own ZstdError
            raise ArchiveError(f"{archive.name} cannot be decompressed: {exc}") from None
        if member is None:
            return
        # A stream-mode TarFile keeps every member it read; nothing here needs them.
        tar.members.clear()  # type: ignore[attr-defined]
        yield member


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: str, executable: bool) -> str:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    source = tar.extractfile(member)
    assert source is not None
    h = hashlib.sha256()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(dest, flags, 0o755 if executable else 0o644)
    with os.fdopen(fd, "wb") as out:
        try:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        except (tarfile.TarError, EOFError) as exc:
            raise ArchiveError(f"{member.name} is truncated: {exc}") from None
        except ArchiveError:
            raise
        except Exception as exc:  # zstandard raises its own ZstdError
            raise ArchiveError(f"{member.name} cannot be decompressed: {exc}") from None
    return h.hexdigest()


def _check_links_resolve_inside(into: Path, records: list[TreeRecord]) -> None:
    # A chain of links, each pointing inside on its own, can still lead out together.
    root = os.path.realpath(into)
    for record in records:
        if record.kind == "symlink":
            real = os.path.realpath(os.path.join(root, record.path))
            if not _inside(real, root):
                raise ArchiveError(
                    f"refusing symlink {record.path} -> {record.content}: it resolves outside the destination"
                )


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _scan(root: Path, ignore: Collection[str]) -> tuple[list[TreeRecord], set[str]] | None:
    """Files and links under `root` as tree records, plus its folders; None if anything
    else (a fifo, a device) is there. Nothing is followed out of `root`."""
    records: list[TreeRecord] = []
    folders: set[str] = set()
    todo = [""]
    while todo:
        rel = todo.pop()
        with os.scandir(os.path.join(root, rel)) as entries:
            for entry in entries:
                if not rel and entry.name in ignore:
                    continue
                path = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_symlink():
                    records.append(TreeRecord(path, "symlink", False, os.readlink(entry.path)))
                elif entry.is_dir(follow_symlinks=False):
                    folders.add(path)
                    todo.append(path)
                elif entry.is_file(follow_symlinks=False):
                    executable = bool(entry.stat(follow_symlinks=False).st_mode & 0o100)
                    records.append(TreeRecord(path, "file", executable, _sha256_file(entry.path)))
                else:
                    return None
    return records, folders


def tree_matches(root: Path, expected: Digest, *, ignore: Collection[str] = ()) -> bool:
    """Whether the folder `root` holds exactly the tree `expected` names, as an extraction
    would have left it: the same files (content, exec bit) and links, no other entry, no
    folder but the parents of those, no link resolving outside. For a destination found in
    place, which nothing says this process made. `ignore`: top-level names left out."""
    try:
        if root.is_symlink() or not root.is_dir():
            return False
        scanned = _scan(root, ignore)
        if scanned is None:
            return False
        records, folders = scanned
        parents = {r.path.rsplit("/", 1)[0] for r in records if "/" in r.path}
        implied = {"/".join(p.split("/")[:i]) for p in parents for i in range(1, p.count("/") + 2)}
        if not records or not folders <= implied or tree_digest(records) != expected:
            return False
        _check_links_resolve_inside(root, records)
        return True
    except (OSError, ValueError, ArchiveError):
        return False


def safe_extract(
    archive: Path,
    dest_dir: Path,
    expected: Digest | None = None,
    limits: ExtractLimits | None = None,
) -> Path:
    """Extract `archive` into `dest_dir` (which must not exist or be empty) all or nothing.

    With `expected`, the tree digest of what was extracted must equal it.
    """
    limits = limits or ExtractLimits()
    dest_dir = Path(dest_dir)
    compression = _compression(archive)  # checked before anything is created
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{dest_dir.name}.", suffix=".partial", dir=dest_dir.parent)
    )
    try:
        records = _extract_members(archive, compression, tmp, limits)
        _check_links_resolve_inside(tmp, records)
        if expected is not None:
            if not records:
                raise ArchiveError(f"{archive.name} is empty; expected tree {expected}")
            actual = tree_digest(records)
            if actual != expected:
                raise ArchiveError(
                    f"{archive.name} does not match its digest: expected {expected}, got {actual}"
                )
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp made it 0700: as a mkdir would
        if dest_dir.is_dir() and not dest_dir.is_symlink() and not any(dest_dir.iterdir()):
            dest_dir.rmdir()
        try:
            os.rename(tmp, dest_dir)
        except OSError as exc:
            raise ArchiveError(
                f"cannot move the extracted bundle to {dest_dir}: {exc.strerror or exc}"
            ) from None
        return dest_dir
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fetch_and_extract(
    url: str,
    dest_dir: Path,
    expected: Digest | None = None,
    limits: ExtractLimits | None = None,
) -> Path:
    """Download the bundle at `url` and extract it into `dest_dir`, verified against the digest
    in its name (or `expected`). A download over `limits.max_archive_bytes` is refused before
    it is written; the download is removed afterwards."""
    named = digest_from_url(url)
    if expected is not None and named is not None and expected != named:
        raise ArchiveError(f"{url} is named {named}, not the expected {expected}")
    expected = expected or named
    limits = limits or ExtractLimits()
    dest_dir = Path(dest_dir)
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir.parent / f".{dest_dir.name}.{secrets.token_hex(8)}.download"
    try:
        try:
            download_url(url, tmp, max_bytes=limits.max_archive_bytes)
        except ObjectTooLarge as exc:
            raise ArchiveError(f"refusing the bundle: {exc}") from None
        return safe_extract(tmp, dest_dir, expected=expected, limits=limits)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


__all__ = [
    "ExtractLimits",
    "digest_from_url",
    "fetch_and_extract",
    "safe_extract",
    "tree_matches",
]
