"""Unpack a bundle safely: refuse anything that could escape or explode, verify the digest.

The archive is read as a stream and written member by member into a temp folder
next to the destination, which is renamed into place only when every check
passed: no absolute paths, no `..`, no members below a symlink, no hard links,
devices or fifos, no link whose target leaves the destination, no more bytes
than the limits allow, and a tree digest equal to the one in the bundle's name.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pack.atomic import umask
from pack.digest import Digest
from pack.errors import ArchiveError
from pack.packager.store import download_url
from pack.packager.treedigest import TreeRecord, tree_digest

_NAME = re.compile(r"(?:^|/)([0-9a-f]{64})\.tar\.(?:zst|gz)\Z")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ExtractLimits:
    """Uncompressed bytes may not exceed `max_bytes`, nor `max_ratio` x the compressed size
    (archives below `ratio_floor` uncompressed are exempt from the ratio: tar padding alone
    makes tiny bundles compress very well)."""

    max_bytes: int = 4 * 1024**3
    max_ratio: float = 200.0
    ratio_floor: int = 64 * 1024 * 1024
    max_members: int = 1_000_000

    def allowed(self, compressed: int) -> int:
        return min(self.max_bytes, max(int(self.max_ratio * compressed), self.ratio_floor))


def digest_from_url(url: str) -> Digest | None:
    """The tree digest a bundle URL is named by (`.../<hex>.tar.zst`), if it has one."""
    match = _NAME.search(url)
    return Digest(match.group(1)) if match else None


@contextmanager
def _decompressed(archive: Path) -> Iterator[BinaryIO]:
    with open(archive, "rb") as raw:
        magic = raw.read(4)
        raw.seek(0)
        if magic.startswith(ZSTD_MAGIC):
            import zstandard

            with zstandard.ZstdDecompressor().stream_reader(raw) as reader:
                yield reader  # type: ignore[misc]
        elif magic.startswith(GZIP_MAGIC):
            import gzip

            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield gz  # type: ignore[misc]
        else:
            raise ArchiveError(f"{archive.name} is neither zstd nor gzip compressed")


def _check_name(name: str) -> str:
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


def _extract_members(archive: Path, into: Path, limits: ExtractLimits) -> list[TreeRecord]:
    budget = limits.allowed(archive.stat().st_size)
    total = 0
    records: list[TreeRecord] = []
    links: set[str] = set()
    seen: set[str] = set()
    folders: set[str] = set()
    with _decompressed(archive) as stream:
        try:
            tar = tarfile.open(fileobj=stream, mode="r|")
        except tarfile.TarError as exc:
            raise ArchiveError(f"{archive.name} is not a valid tar archive: {exc}") from None
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
                total += member.size
                if total > budget:
                    raise ArchiveError(
                        f"{archive.name} expands to more than {budget} bytes "
                        f"(limit {limits.max_bytes}, ratio {limits.max_ratio:g}x); refusing to extract"
                    )
                executable = bool(member.mode & 0o100)
                records.append(
                    TreeRecord(name, "file", executable, _write_file(tar, member, dest, executable))
                )
    return records


def _iter_members(tar: tarfile.TarFile, archive: Path) -> Iterator[tarfile.TarInfo]:
    try:
        yield from tar
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{archive.name} is corrupt or truncated: {exc}") from None
    except Exception as exc:  # zstandard raises its own ZstdError
        raise ArchiveError(f"{archive.name} cannot be decompressed: {exc}") from None


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
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{dest_dir.name}.", suffix=".partial", dir=dest_dir.parent)
    )
    try:
        records = _extract_members(archive, tmp, limits)
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
    in its name (or `expected`). The download is removed afterwards."""
    named = digest_from_url(url)
    if expected is not None and named is not None and expected != named:
        raise ArchiveError(f"{url} is named {named}, not the expected {expected}")
    expected = expected or named
    dest_dir = Path(dest_dir)
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest_dir.name}.", suffix=".download", dir=dest_dir.parent)
    os.close(fd)
    try:
        download_url(url, Path(tmp))
        return safe_extract(Path(tmp), dest_dir, expected=expected, limits=limits)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


__all__ = ["ExtractLimits", "digest_from_url", "fetch_and_extract", "safe_extract"]
