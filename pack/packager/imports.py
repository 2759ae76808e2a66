"""`--copy auto`: the local modules an entry file imports, transitively, plus package `__init__`s.

Imports are read with `ast` (nothing is executed). A module resolves against the
source root, the entry's folder and `<root>/src`, as Python would find it when the
entry runs from the root; anything that does not resolve to a listed file is a
third-party or standard module and is not shipped.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from pack.errors import PackageError


def imported_modules(source: str, filename: str) -> list[tuple[int, str, tuple[str, ...]]]:
    """(level, module, names) for every import in `source`, wherever it appears."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise PackageError(
            f"{filename}:{exc.lineno}: cannot parse for --copy auto: {exc.msg}"
        ) from None
    found: list[tuple[int, str, tuple[str, ...]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((0, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names if alias.name != "*")
            found.append((node.level, node.module or "", names))
    return found


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _module_files(dotted: str, base: str, files: frozenset[str]) -> list[str]:
    """Files making up module `dotted` under folder `base`: its packages' __init__s and itself."""
    parts = dotted.split(".") if dotted else []
    folder = base
    out: list[str] = []
    for part in parts[:-1]:
        folder = _join(folder, part)
        init = _join(folder, "__init__.py")
        if init in files:
            out.append(init)
    if not parts:
        init = _join(base, "__init__.py")
        return [init] if init in files else []
    last = _join(folder, parts[-1])
    for candidate in (last + ".py", _join(last, "__init__.py")):
        if candidate in files:
            return [*out, candidate]
    return []


def _bases(entry: str) -> list[str]:
    """Where absolute imports resolve: the root, the entry's folder, `src/`."""
    parent = str(PurePosixPath(entry).parent)
    bases: list[str] = []
    for base in ("", "" if parent == "." else parent, "src"):
        if base not in bases:
            bases.append(base)
    return bases


def _package_of(path: str, level: int) -> str | None:
    """The folder a relative import of `level` dots in `path` starts from (None: above the root)."""
    folder = PurePosixPath(path).parent
    for _ in range(level - 1):
        if str(folder) == ".":
            return None
        folder = folder.parent
    return "" if str(folder) == "." else str(folder)


def _resolve_one(
    module: str, names: tuple[str, ...], base: str, files: frozenset[str]
) -> list[str]:
    found = _module_files(module, base, files) if module else []
    if not module:
        found += _module_files("", base, files)
    # `from pkg import name` may name a submodule rather than an attribute.
    for name in names:
        found += _module_files(f"{module}.{name}" if module else name, base, files)
    return found


def resolve_imports(entry: str, files: Iterable[str], read: Callable[[str], str]) -> list[str]:
    """Relative paths of the files `entry` needs, itself included, sorted."""
    available = frozenset(files)
    if entry not in available:
        raise PackageError(f"entry file {entry} is not among the listed files (is it ignored?)")
    bases = _bases(entry)
    needed: set[str] = set()
    queue = [entry]
    while queue:
        current = queue.pop()
        if current in needed:
            continue
        needed.add(current)
        for level, module, names in imported_modules(read(current), current):
            if level:
                package = _package_of(current, level)
                found = [] if package is None else _resolve_one(module, names, package, available)
            else:
                found = []
                for base in bases:
                    found = _resolve_one(module, names, base, available)
                    if found:
                        break
            queue.extend(f for f in found if f not in needed)
    return sorted(needed)
