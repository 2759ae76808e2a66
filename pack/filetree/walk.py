"""List the files of a folder: one scandir pass applying the ignore rules.

Every path left out keeps its reason (for `pack package --list`). Symlinks that
stay inside the root are kept as links (or, with `links_as_files`, listed as what
they point to); one that escapes is refused unless `follow_links`, which lists what
it points to instead. `only` restricts the walk to some paths below the root (an
ImageSpec's `copy=` entries) while rule files on the way to them still apply; the
paths named there are exempt from the built-in defaults, as are those in `exempt`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pack.errors import ListingError
from pack.filetree.entry import Excluded, FileEntry, Kind, Listing
from pack.filetree.ignore import IGNORE_FILES, ROOT_ONLY_FILES, VENV_MARKER, RuleFile, decide

# A restriction below a folder: child name -> its own restriction (None: walk it all).
Only = dict[str, "Only | None"]


@dataclass(frozen=True)
class _Node:
    """A path being listed: a folder to walk, or a name in one to visit."""

    path: str  # absolute, on disk
    rel: str  # relative to the root ('' = the root)
    rules: tuple[RuleFile, ...]  # of the folders above it
    ancestors: frozenset[tuple[int, int]]  # (dev, ino) of the folders above it: loop guard
    only: Only | None = None


@dataclass(frozen=True)
class _Options:
    real_root: str
    follow_links: bool
    follow_option: str
    links_as_files: bool
    exempt: frozenset[str]


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _read_rules(folder: str, rel: str) -> list[RuleFile]:
    rules = []
    for name in IGNORE_FILES:
        if rel and name in ROOT_ONLY_FILES:
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8", errors="surrogateescape") as f:
                rules.append(RuleFile.parse(rel, name, f.read()))
        except FileNotFoundError:
            continue
        except OSError as exc:
            where = f"{rel}/{name}" if rel else name
            raise ListingError(f"cannot read {where}: {exc.strerror or exc}") from None
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


def _only_tree(paths: tuple[str, ...]) -> Only:
    tree: Only = {}
    for path in sorted(paths, key=lambda p: p.count("/")):
        node = tree
        parts = [p for p in path.split("/") if p]
        for i, part in enumerate(parts):
            if part in node and node[part] is None:
                break  # an ancestor is listed whole already
            if i == len(parts) - 1:
                node[part] = None
            else:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
                node = child
    return tree


def _named(only: Only | None) -> frozenset[str]:
    """Every path `only` names, with the folders on the way to it."""
    out: set[str] = set()
    stack: list[tuple[str, Only]] = [("", only or {})]
    while stack:
        prefix, node = stack.pop()
        for name, child in node.items():
            rel = f"{prefix}/{name}" if prefix else name
            out.add(rel)
            if child is not None:
                stack.append((rel, child))
    return frozenset(out)


def list_files(
    root: Path,
    *,
    follow_links: bool = False,
    follow_option: str = "--follow-links",
    links_as_files: bool = False,
    only: tuple[str, ...] | None = None,
    exempt: frozenset[str] = frozenset(),
) -> Listing:
    """Walk `root` and return what would be shipped and what was left out, sorted by path.

    `follow_option` names the caller's opt-in for escaping links in the refusal;
    `only`: relative POSIX paths to list (a missing one is a ListingError);
    `exempt`: relative paths the built-in defaults do not apply to.
    """
    if not root.is_dir():
        raise ListingError(f"{root} is not a folder")
    restricted = _only_tree(only) if only is not None else None
    options = _Options(
        real_root=os.path.realpath(root),
        follow_links=follow_links,
        follow_option=follow_option,
        links_as_files=links_as_files,
        exempt=exempt | _named(restricted),
    )
    listing = Listing(root)
    stack = [_Node(options.real_root, "", (), frozenset(), restricted)]
    while stack:
        folder = stack.pop()
        subfolders: list[_Node] = []
        _list_folder(folder, options, listing, subfolders, root)
        stack.extend(reversed(subfolders))
    listing.files.sort(key=lambda f: f.path)
    listing.excluded.sort(key=lambda x: x.path)
    return listing


def _list_folder(
    folder: _Node, options: _Options, listing: Listing, subfolders: list[_Node], root: Path
) -> None:
    rel_dir = folder.rel
    try:
        st_dir = os.stat(folder.path)
        key = (st_dir.st_dev, st_dir.st_ino)
        if key in folder.ancestors:
            listing.excluded.append(
                Excluded(rel_dir, "symlink loop: a folder above it", True, "loop")
            )
            return
        if folder.only is None:
            with os.scandir(folder.path) as it:
                entries = sorted((e.name, e.path) for e in it)
            has_marker = any(name == VENV_MARKER for name, _ in entries)
        else:
            entries = [(name, os.path.join(folder.path, name)) for name in sorted(folder.only)]
            has_marker = os.path.lexists(os.path.join(folder.path, VENV_MARKER))
    except FileNotFoundError:
        raise ListingError(f"{rel_dir or '.'} vanished while listing {root}") from None
    except OSError as exc:
        raise ListingError(f"cannot list {rel_dir or root}: {exc.strerror or exc}") from None
    if rel_dir and has_marker:
        listing.excluded.append(
            Excluded(rel_dir, f"virtualenv ({VENV_MARKER})", True, "virtualenv")
        )
        return
    rules = folder.rules + tuple(_read_rules(folder.path, rel_dir))
    ancestors = folder.ancestors | {key}
    for name, path in entries:
        rel = f"{rel_dir}/{name}" if rel_dir else name
        child = _Node(
            path, rel, rules, ancestors, None if folder.only is None else folder.only[name]
        )
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            if folder.only is not None:
                raise ListingError(f"{rel} not found under {root}") from None
            raise ListingError(f"{rel} vanished while listing {root}") from None
        try:
            _visit(child, st, options, listing, subfolders)
        except FileNotFoundError:
            raise ListingError(f"{rel} vanished while listing {root}") from None
        except PermissionError as exc:
            raise ListingError(f"cannot read {rel}: {exc.strerror}") from None


def _left_out(
    rel: str, is_dir: bool, rules: tuple[RuleFile, ...], options: _Options, listing: Listing
) -> bool:
    """Record `rel` as excluded (warning when it looks like a secret) if the rules say so."""
    decision = decide(rel, is_dir, rules, defaults=rel not in options.exempt)
    if decision.excluded:
        listing.excluded.append(Excluded(rel, decision.reason, is_dir, decision.why))
        if decision.secret:
            listing.warnings.append(f"left out {rel}{'/' if is_dir else ''}: looks like a secret")
    return decision.excluded


def _not_a_folder(item: _Node) -> ListingError:
    """`only` named a path below `item`, which is a file."""
    return ListingError(f"{item.rel} is a file, not a folder holding {', '.join(item.only or ())}")


def _visit(
    item: _Node,
    st: os.stat_result,
    options: _Options,
    listing: Listing,
    subfolders: list[_Node],
) -> None:
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        _visit_link(item, st, options, listing, subfolders)
        return
    is_dir = stat.S_ISDIR(mode)
    if not is_dir and not stat.S_ISREG(mode):
        listing.excluded.append(
            Excluded(item.rel, "not a regular file (socket, fifo or device)", why="not-a-file")
        )
        return
    if _left_out(item.rel, is_dir, item.rules, options, listing):
        return
    if is_dir:
        subfolders.append(item)
    elif item.only is not None:
        raise _not_a_folder(item)
    else:
        listing.files.append(_entry(item.rel, item.path, st, "file"))


def _visit_link(
    item: _Node,
    st: os.stat_result,
    options: _Options,
    listing: Listing,
    subfolders: list[_Node],
) -> None:
    rel, path = item.rel, item.path
    # git treats a link as a file whatever it points to.
    if _left_out(rel, False, item.rules, options, listing):
        return
    target = os.readlink(path)
    resolved = os.path.realpath(path)
    lexical = os.path.normpath(os.path.join(os.path.dirname(path), target))
    inside = _inside(resolved, options.real_root) and _inside(lexical, options.real_root)
    if inside and not options.links_as_files and item.only is None:
        if os.path.isabs(target):
            # Absolute targets only make sense on this machine: store them relative.
            target = os.path.relpath(lexical, os.path.dirname(path))
        listing.files.append(_entry(rel, path, st, "symlink", target.replace(os.sep, "/")))
        return
    if not inside and not options.follow_links:
        raise ListingError(
            f"symlink {rel} -> {target} points outside {options.real_root}; "
            f"remove it, list it in .packignore, or opt in with {options.follow_option}"
        )
    try:
        target_st = os.stat(path)
    except FileNotFoundError:
        where = "" if inside else " and points outside " + options.real_root
        raise ListingError(f"symlink {rel} -> {target} is dangling{where}") from None
    if stat.S_ISDIR(target_st.st_mode):
        if not _left_out(rel, True, item.rules, options, listing):
            subfolders.append(_Node(resolved, rel, item.rules, item.ancestors, item.only))
    elif stat.S_ISREG(target_st.st_mode):
        if item.only is not None:
            raise _not_a_folder(item)
        listing.files.append(_entry(rel, resolved, target_st, "file"))
    else:
        listing.excluded.append(
            Excluded(rel, "link to a non-regular file (socket, fifo or device)", why="not-a-file")
        )
