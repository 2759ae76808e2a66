"""What a copy mode ships from a source root, what it leaves out, and what to tell the user.

`all` ships every listed file; `auto` the entry and the local modules it imports. With an
entry, both follow its imports to keep first-party code: a folder left out only by a
built-in default (`/build/`, `node_modules/`) that holds a module the entry imports is
listed after all, and a module left out by the user's own rules (an ignore file, the
secret guard) is reported as `unshipped` - an error under `auto`, a warning under `all`
(imports the code guards with `except ImportError` are noted, never fatal).
`not_shipped_hint` turns a task's FileNotFoundError into advice when the path it missed
was left out of the bundle.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pack.errors import PackageError, UsageError
from pack.filetree.entry import Excluded, FileEntry, Listing
from pack.filetree.ignore import DEFAULT_ROOT_DIRS
from pack.filetree.walk import list_files
from pack.packager.importcache import ImportReader
from pack.packager.imports import Closure, Missing, resolve_imports

COPY_MODES: tuple[str, ...] = ("all", "auto", "none")
DEFAULT_COPY = "all"
# Reasons a path may hide a module the entry imports (not a venv, a socket, a loop).
_MAY_HOLD_CODE = frozenset({"default", "ignore-file", "secret"})


@dataclass(frozen=True)
class Unshipped:
    """A first-party module the entry's code imports whose file the rules leave out."""

    module: str  # as written in the import
    path: str  # the file on disk that import would load
    importer: str  # `path:line` of the import
    excluded: Excluded  # the rule that left it out
    optional: bool  # guarded by `except ImportError` or under `if TYPE_CHECKING:`

    def describe(self) -> str:
        return (
            f"{self.importer} imports {self.module}, but {self.path} is left out by "
            f"{reinclude_advice(self.excluded)}"
        )


@dataclass(frozen=True)
class Selection:
    copy: str
    entry: str | None  # relative to the root
    files: tuple[FileEntry, ...]
    excluded: tuple[Excluded, ...]
    unshipped: tuple[Unshipped, ...] = ()
    kept: tuple[
        Excluded, ...
    ] = ()  # default-ignored folders listed because the entry imports from them
    warnings: tuple[str, ...] = ()

    def error(self) -> PackageError | None:
        return unshipped_error(self.copy, self.unshipped)


def unshipped_error(copy: str, unshipped: Iterable[Unshipped]) -> PackageError | None:
    """Under `auto`, a module the entry needs that cannot be shipped is an error."""
    fatal = [u for u in unshipped if not u.optional]
    if copy != "auto" or not fatal:
        return None
    return PackageError(
        "--copy auto cannot ship a module the entry imports: "
        + "; ".join(u.describe() for u in fatal)
    )


def reinclude_advice(x: Excluded) -> str:
    """The rule that left `x` out and how to take it back, as one phrase."""
    if x.why == "secret":
        return x.reason  # the guard's reason already says how
    return f"{x.reason} (re-include with !{x.path}{'/' if x.is_dir else ''} in .packignore)"


def _cover(path: str, by_path: dict[str, Excluded]) -> Excluded | None:
    """The exclusion that leaves `path` out (itself, else its deepest excluded folder)."""
    x = by_path.get(path)
    if x is not None:
        return x
    while "/" in path:
        path = path.rpartition("/")[0]
        x = by_path.get(path)
        if x is not None and x.is_dir:
            return x
    return None


def classify(
    missing: Iterable[Missing], excluded: tuple[Excluded, ...], exists: Callable[[str], bool]
) -> tuple[list[Unshipped], set[str]]:
    """Imports left unresolved because a rule hid their file: (unshipped modules, default-
    ignored folders to list after all). `exists` says whether a relative path is a file."""
    unshipped: list[Unshipped] = []
    reinclude: set[str] = set()
    by_path = {x.path: x for x in excluded}
    for item in missing:
        for candidate, module in item.candidates:
            cover = _cover(candidate, by_path)
            if cover is None or cover.why not in _MAY_HOLD_CODE or not exists(candidate):
                continue
            if cover.why == "default":
                reinclude.add(cover.path)
            else:
                unshipped.append(
                    Unshipped(
                        module,
                        candidate,
                        f"{item.importer}:{item.imp.line}",
                        cover,
                        item.imp.optional,
                    )
                )
            break  # Python loads the first file that satisfies the import
    return unshipped, reinclude


def entry_path(root: Path, entry: Path) -> str:
    real_root = Path(os.path.realpath(root))
    try:
        return Path(os.path.realpath(entry)).relative_to(real_root).as_posix()
    except ValueError:
        raise UsageError(f"entry file {entry} is not under the source root {root}") from None


def _closure(listing: Listing, entry: str, cache_file: Path | None) -> Closure:
    by_path = {f.path: f for f in listing.files}
    reader = ImportReader(by_path, cache_file)
    closure = resolve_imports(entry, by_path, reader)
    reader.save()
    return closure


def _may_hide_code(excluded: Iterable[Excluded]) -> bool:
    """Whether anything left out could be a module an import names (cheap pre-check:
    `--copy all` follows the entry's imports only then)."""
    for x in excluded:
        if x.why not in _MAY_HOLD_CODE:
            continue
        if x.why == "default" and x.path not in DEFAULT_ROOT_DIRS:
            continue  # __pycache__/, node_modules/, *.pyc: never first-party modules
        name = x.path.rpartition("/")[2]
        if (x.is_dir and name.isidentifier()) or (
            name.endswith(".py") and name[:-3].isidentifier()
        ):
            return True
    return False


def select(
    root: Path,
    copy: str,
    entry: Path | None,
    *,
    follow_links: bool = False,
    follow_option: str = "--follow-links",
    import_cache: Path | None = None,
) -> Selection:
    """List `root` and apply the copy mode (`all` or `auto`; `none` ships nothing).
    `import_cache`: the file caching parsed imports (see importcache)."""
    if copy not in ("all", "auto"):
        raise UsageError(f"copy mode {copy!r} is not one of: all, auto (none ships no bundle)")
    if copy == "auto" and entry is None:
        raise UsageError("--copy auto needs an entry file (--entry) to follow its imports")

    def listed(exempt: frozenset[str]) -> Listing:
        return list_files(
            root, follow_links=follow_links, follow_option=follow_option, exempt=exempt
        )

    listing = listed(frozenset())
    if entry is None:
        return Selection(
            copy,
            None,
            tuple(listing.files),
            tuple(listing.excluded),
            warnings=tuple(listing.warnings),
        )
    rel = entry_path(root, entry)
    if not any(f.path == rel for f in listing.files):
        cover = _cover(rel, {x.path: x for x in listing.excluded})
        why = f"left out by {reinclude_advice(cover)}" if cover else "not a listed file"
        raise PackageError(f"entry file {rel} is {why}; the bundle could not run it")
    real_root = os.path.realpath(root)
    exempt: frozenset[str] = frozenset()
    kept: dict[str, Excluded] = {}
    closure: Closure | None = None
    unshipped: list[Unshipped] = []
    while copy == "auto" or _may_hide_code(listing.excluded):
        closure = _closure(listing, rel, import_cache)
        unshipped, reinclude = classify(
            closure.missing,
            tuple(listing.excluded),
            lambda p: os.path.isfile(os.path.join(real_root, p)),
        )
        if reinclude <= exempt:
            break
        kept.update((x.path, x) for x in listing.excluded if x.path in reinclude)
        exempt |= reinclude  # each round lists at least one more folder: it ends
        listing = listed(exempt)
    warnings = list(listing.warnings)
    if copy == "all":
        warnings += [
            f"{u.describe()}; the task will not find it" for u in unshipped if not u.optional
        ]
        return Selection(
            copy,
            rel,
            tuple(listing.files),
            tuple(listing.excluded),
            tuple(unshipped),
            tuple(kept.values()),
            tuple(warnings),
        )
    assert closure is not None
    needed = set(closure.files)
    not_imported = [
        Excluded(f.path, f"not imported by {rel} (--copy auto)", why="not-imported")
        for f in listing.files
        if f.path not in needed
    ]
    return Selection(
        copy,
        rel,
        tuple(f for f in listing.files if f.path in needed),
        tuple(sorted([*listing.excluded, *not_imported], key=lambda x: x.path)),
        tuple(unshipped),
        tuple(kept.values()),
        tuple(warnings),
    )


_FNF_LINE = re.compile(r"FileNotFoundError\b[^\n]*")
_QUOTED = re.compile(r"'([^'\n]+)'|\"([^\"\n]+)\"")


def _missed_paths(error_text: str) -> list[str]:
    """Paths a FileNotFoundError in `error_text` names (quoted, as Python prints them)."""
    out: list[str] = []
    for line in _FNF_LINE.findall(error_text):
        quoted = [a or b for a, b in _QUOTED.findall(line)]
        if not quoted:  # e.g. `FileNotFoundError: data/x.csv not found`
            tail = line.partition(":")[2].split()
            quoted = tail[:1]
        out += quoted
    return out


def _matches(missed: str, x: Excluded) -> bool:
    path = missed.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    if x.covers(path):
        return True
    # An absolute path inside the extracted bundle: /tmp/pack-task-…/code/data/x.csv
    suffix = "/" + x.path
    return path.startswith("/") and (path.endswith(suffix) or (x.is_dir and suffix + "/" in path))


def not_shipped_hint(error_text: str, excluded: Iterable[Excluded]) -> str | None:
    """Advice when a task failed with FileNotFoundError on a path the bundle left out."""
    candidates = sorted(excluded, key=lambda x: -len(x.path))
    for missed in _missed_paths(error_text):
        for x in candidates:
            if not _matches(missed, x):
                continue
            if x.why == "not-imported":
                return (
                    f"{x.path} is in the source tree but --copy auto left it out (no module "
                    "imports it); run with --copy all to ship data files"
                )
            if x.why in _MAY_HOLD_CODE:
                return (
                    f"{x.path}{'/' if x.is_dir else ''} is in the source tree but was not "
                    f"shipped: {reinclude_advice(x)}"
                )
    return None
