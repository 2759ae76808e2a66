"""From a source root to a bundle URL: list, digest, ask the store, and only then tar and upload.

`plan_package` is the deciding part (listing, copy mode, tree digest, guardrails);
`publish` is the side effect (archive to a temp file, conditional upload);
`package_and_publish` composes the two for the CLI and the launcher.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pack.digest import Digest
from pack.errors import PackageError, UsageError
from pack.filetree.entry import Excluded, FileEntry
from pack.packager import statcache
from pack.packager.archive import COMPRESSIONS, SUFFIXES, Member, write_bundle
from pack.packager.selection import COPY_MODES, Unshipped, select, unshipped_error
from pack.packager.store import Store, open_store
from pack.packager.treedigest import TreeRecord, tree_digest
from pack.scratch import scratch_file

ROOT_MARKERS = ("pyproject.toml", ".git", "setup.py")
WARN_FILE_BYTES = 10 * 1024 * 1024
WARN_BUNDLE_BYTES = 100_000_000
DEFAULT_MAX_BYTES = 1_000_000_000
LARGEST = 5
BUNDLES = "bundles"
OnWarning = Callable[[str], None]


@dataclass(frozen=True)
class BundleRef:
    """Where a bundle lives and what it holds. `uploaded` is False when the store had it already."""

    url: str
    digest: Digest
    files: int
    bytes: int
    uploaded: bool
    largest: list[tuple[str, int]] = field(default_factory=list)
    compression: str = "zstd"


@dataclass(frozen=True)
class PackagePlan:
    """The files of one bundle, their content hashes and the tree digest naming it."""

    root: Path
    entries: tuple[FileEntry, ...]
    hashes: dict[str, str]
    digest: Digest
    excluded: tuple[Excluded, ...]
    warnings: tuple[str, ...]
    copy: str = "all"
    unshipped: tuple[Unshipped, ...] = ()  # modules the entry imports that the rules leave out
    kept: tuple[Excluded, ...] = ()  # default-ignored folders shipped: the entry imports from them

    def error(self) -> PackageError | None:
        """Why this plan must not be shipped (`--copy auto` missing a module), if it must not."""
        return unshipped_error(self.copy, self.unshipped)

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def largest(self, n: int = LARGEST) -> list[tuple[str, int]]:
        ranked = sorted(self.entries, key=lambda e: (-e.size, e.path))
        return [(e.path, e.size) for e in ranked[:n]]


def bundle_key(digest: Digest, compression: str = "zstd") -> str:
    if compression not in SUFFIXES:
        raise UsageError(f"compression {compression!r} is not one of: {', '.join(COMPRESSIONS)}")
    return f"{BUNDLES}/{digest.hex}{SUFFIXES[compression]}"


def find_source_root(entry: Path) -> Path:
    """The nearest folder above `entry` holding pyproject.toml, .git or setup.py, else its folder."""
    folder = entry.resolve().parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    return folder


def format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def guardrails(entries: tuple[FileEntry, ...], max_bytes: int, root: Path) -> list[str]:
    """Warnings for big files/bundles; PackageError for an empty set or one over the cap."""
    if not entries:
        raise PackageError(
            f"nothing to package under {root}: every file is ignored or the folder is empty",
            hint="pack package --list shows what was left out and why",
        )
    total = sum(e.size for e in entries)
    ranked = sorted(entries, key=lambda e: (-e.size, e.path))
    if total > max_bytes:
        worst = ", ".join(f"{e.path} ({format_bytes(e.size)})" for e in ranked[:LARGEST])
        raise PackageError(
            f"bundle of {format_bytes(total)} exceeds the limit of {format_bytes(max_bytes)}; largest: {worst}",
            hint="list big files in .packignore, or raise max_bundle_bytes",
        )
    warnings = [
        f"{e.path} is {format_bytes(e.size)} (over {format_bytes(WARN_FILE_BYTES)}); consider .packignore"
        for e in ranked
        if e.size > WARN_FILE_BYTES
    ]
    if total > WARN_BUNDLE_BYTES:
        warnings.append(f"bundle is {format_bytes(total)} (over 100 MB)")
    return warnings


def plan_package(
    source_root: Path,
    copy: str,
    entry: Path | None,
    *,
    cache_dir: Path | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    follow_links: bool = False,
    on_warning: OnWarning | None = None,
    check: bool = True,
) -> PackagePlan:
    """List, select, check and digest. `check=False` returns a plan `--copy auto` could not
    ship (for `--list` to show why) instead of raising its error."""
    selection = select(
        source_root,
        copy,
        entry,
        follow_links=follow_links,
        import_cache=None
        if cache_dir is None
        else statcache.cache_path(cache_dir, source_root, "imports"),
    )
    error = selection.error()
    if error is not None and check:
        raise error
    entries = selection.files
    warnings = list(selection.warnings) + guardrails(entries, max_bytes, source_root)
    for message in warnings:
        if on_warning is not None:
            on_warning(message)
    cache_file = statcache.cache_path(cache_dir, source_root) if cache_dir is not None else None
    hashes = statcache.content_hashes(entries, cache_file, prune=copy == "all")
    records = [
        TreeRecord(
            e.path, e.kind, e.executable, hashes[e.path] if e.kind == "file" else e.link_target
        )
        for e in entries
    ]
    return PackagePlan(
        root=source_root,
        entries=entries,
        hashes=hashes,
        digest=tree_digest(records),
        excluded=selection.excluded,
        warnings=tuple(warnings),
        copy=copy,
        unshipped=selection.unshipped,
        kept=selection.kept,
    )


def members(plan: PackagePlan) -> list[Member]:
    return [
        Member(
            path=e.path,
            kind=e.kind,
            executable=e.executable,
            size=e.size,
            link_target=e.link_target,
            source=e.source if e.kind == "file" else None,
            sha256=plan.hashes.get(e.path),
        )
        for e in plan.entries
    ]


def publish(
    plan: PackagePlan,
    store: Store,
    *,
    compression: str = "zstd",
    tmp_dir: Path | None = None,
) -> BundleRef:
    """Upload the plan's bundle unless the store has it; the archive is built only when needed."""
    error = plan.error()
    if error is not None:
        raise error
    key = bundle_key(plan.digest, compression)
    uploaded = False
    if not store.exists(key):
        # A scratch file: the archive of a publish that was killed is removed by the next.
        folder = tmp_dir if tmp_dir is not None else Path(tempfile.gettempdir())
        with scratch_file(folder, ".bundle-", SUFFIXES[compression]) as (fd, tmp):
            with os.fdopen(fd, "wb") as out:
                write_bundle(members(plan), out, compression)
            uploaded = store.put_file(key, tmp, if_absent=True)
    return BundleRef(
        url=store.url(key),
        digest=plan.digest,
        files=len(plan.entries),
        bytes=plan.total_bytes,
        uploaded=uploaded,
        largest=plan.largest(),
        compression=compression,
    )


def package_and_publish(
    source_root: Path | None,
    copy: str,
    entry: Path | None,
    store_url: str,
    *,
    compression: str = "zstd",
    max_bytes: int = DEFAULT_MAX_BYTES,
    cache_dir: Path,
    follow_links: bool = False,
    on_warning: OnWarning | None = None,
) -> BundleRef | None:
    """Bundle and upload the code a run needs. `copy="none"` ships nothing and returns None.

    `source_root` None means: derived from `entry` (see find_source_root).
    """
    if copy not in COPY_MODES:
        raise UsageError(f"copy mode {copy!r} is not one of: {', '.join(COPY_MODES)}")
    if compression not in COMPRESSIONS:
        raise UsageError(f"compression {compression!r} is not one of: {', '.join(COMPRESSIONS)}")
    if copy == "none":
        return None
    if source_root is None:
        if entry is None:
            raise UsageError("give a source folder or an entry file to package")
        source_root = find_source_root(entry)
    plan = plan_package(
        source_root,
        copy,
        entry,
        cache_dir=cache_dir,
        max_bytes=max_bytes,
        follow_links=follow_links,
        on_warning=on_warning,
    )
    return publish_to(plan, store_url, cache_dir=cache_dir, compression=compression)


def publish_to(
    plan: PackagePlan,
    store_url: str,
    *,
    cache_dir: Path,
    compression: str = "zstd",
) -> BundleRef:
    """`publish` to the store at `store_url`, archiving under `cache_dir` (not /tmp: same disk)."""
    tmp_dir = cache_dir / "packager" / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    return publish(plan, open_store(store_url), compression=compression, tmp_dir=tmp_dir)
