"""List the files of a source root: one scandir pass applying the ignore rules.

Every path left out keeps its reason (for `pack package --list`). Symlinks that
stay inside the root are kept as links; one that escapes is refused unless
`follow_links`, which packs what it points to instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pack.errors import PackageError
from pack.filetree.entry import Excluded, FileEntry, Kind, Listing
from pack.filetree.ignore import IGNORE_FILES, VENV_MARKER, RuleFile, decide


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _read_rules(folder: str, rel: str) -> list[RuleFile]:
    rules = []
    for name in IGNORE_FILES:
        try:
            with open(os.path.join(folder, name), encoding="utf-8", errors="surrogateescape") as f:
                rules.append(RuleFile.parse(rel, name, f.read()))
        except FileNotFoundError:
            continue
        except OSError as exc:
            where = f"{rel}/{name}" if rel else name
            raise PackageError(f"cannot read {where}: {exc.strerror or exc}") from None
    return rules


def _entry(rel: str, abs_path: str, st: os.stat_result, kind: Kind, target: str = "") -> FileEntry:
    return FileEntry(
        path=rel,
        kind=kind,
        executable=kind == "file" and bool(st.st_mode & stat.S_IXUSR),
        size=st.st_size if kind == "file" else 0,
        mtime_ns=st.st_mtime_ns,
        ino=st.st_ino,
        ctime_ns=st.st_ctime_ns,
        source=Path(abs_path),
        link_target=target,
    )


def list_files(root: Path, *, follow_links: bool = False) -> Listing:
    """Walk `root` and return what would be packed and what was left out, sorted by path."""
    if not root.is_dir():
        raise PackageError(f"source root {root} is not a folder")
    real_root = os.path.realpath(root)
    listing = Listing(root)
    visited: set[tuple[int, int]] = set()
    # (absolute folder, relative folder, rules in force)
    stack: list[tuple[str, str, tuple[RuleFile, ...]]] = [(real_root, "", ())]
    while stack:
        folder, rel_dir, parent_rules = stack.pop()
        try:
            st_dir = os.stat(folder)
            if (st_dir.st_dev, st_dir.st_ino) in visited:
                continue  # a followed link led back to a folder already packed
            visited.add((st_dir.st_dev, st_dir.st_ino))
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            raise PackageError(f"{rel_dir or '.'} vanished while listing {root}") from None
        except OSError as exc:
            raise PackageError(f"cannot list {rel_dir or root}: {exc.strerror or exc}") from None
        if rel_dir and any(e.name == VENV_MARKER for e in entries):
            listing.excluded.append(Excluded(rel_dir, f"virtualenv ({VENV_MARKER})", True))
            continue
        rules = parent_rules + tuple(_read_rules(folder, rel_dir))
        subfolders: list[tuple[str, str, tuple[RuleFile, ...]]] = []
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            try:
                _visit(e, rel, rules, real_root, follow_links, listing, subfolders)
            except FileNotFoundError:
                raise PackageError(f"{rel} vanished while listing {root}") from None
            except PermissionError as exc:
                raise PackageError(f"cannot read {rel}: {exc.strerror}") from None
        stack.extend(reversed(subfolders))
    listing.files.sort(key=lambda f: f.path)
    listing.excluded.sort(key=lambda x: x.path)
    return listing


def _left_out(rel: str, is_dir: bool, rules: tuple[RuleFile, ...], listing: Listing) -> bool:
    """Record `rel` as excluded (warning when it looks like a secret) if the rules say so."""
    decision = decide(rel, is_dir, rules)
    if decision.excluded:
        listing.excluded.append(Excluded(rel, decision.reason, is_dir))
        if decision.secret:
            listing.warnings.append(f"left out {rel}{'/' if is_dir else ''}: looks like a secret")
    return decision.excluded


def _visit(
    e: os.DirEntry[str],
    rel: str,
    rules: tuple[RuleFile, ...],
    real_root: str,
    follow_links: bool,
    listing: Listing,
    subfolders: list[tuple[str, str, tuple[RuleFile, ...]]],
) -> None:
    st = e.stat(follow_symlinks=False)
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        _visit_link(e.path, rel, st, rules, real_root, follow_links, listing, subfolders)
        return
    is_dir = stat.S_ISDIR(mode)
    if not is_dir and not stat.S_ISREG(mode):
        listing.excluded.append(Excluded(rel, "not a regular file (socket, fifo or device)"))
        return
    if _left_out(rel, is_dir, rules, listing):
        return
    if is_dir:
        subfolders.append((e.path, rel, rules))
    else:
        listing.files.append(_entry(rel, e.path, st, "file"))


def _visit_link(
    path: str,
    rel: str,
    st: os.stat_result,
    rules: tuple[RuleFile, ...],
    real_root: str,
    follow_links: bool,
    listing: Listing,
    subfolders: list[tuple[str, str, tuple[RuleFile, ...]]],
) -> None:
    # git treats a link as a file whatever it points to.
    if _left_out(rel, False, rules, listing):
        return
    target = os.readlink(path)
    resolved = os.path.realpath(path)
    lexical = os.path.normpath(os.path.join(os.path.dirname(path), target))
    if _inside(resolved, real_root) and _inside(lexical, real_root):
        if os.path.isabs(target):
            # Absolute targets only make sense on this machine: store them relative.
            target = os.path.relpath(lexical, os.path.dirname(path))
        listing.files.append(_entry(rel, path, st, "symlink", target.replace(os.sep, "/")))
        return
    if not follow_links:
        raise PackageError(
            f"symlink {rel} -> {target} points outside the source root {real_root}; "
            "remove it, list it in .packignore, or follow links explicitly"
        )
    try:
        target_st = os.stat(path)
    except FileNotFoundError:
        raise PackageError(
            f"symlink {rel} -> {target} is dangling and points outside the source root"
        ) from None
    if stat.S_ISDIR(target_st.st_mode):
        if not _left_out(rel, True, rules, listing):
            subfolders.append((resolved, rel, rules))
    elif stat.S_ISREG(target_st.st_mode):
        listing.files.append(_entry(rel, resolved, target_st, "file"))
    else:
        listing.excluded.append(
            Excluded(rel, "link to a non-regular file (socket, fifo or device)")
        )
