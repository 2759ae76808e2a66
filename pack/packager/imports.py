"""`--copy auto`: the local modules an entry file imports, transitively, plus package `__init__`s.

Imports are read with `ast` (nothing is executed). A module resolves against the
source root, the entry's folder and `<root>/src`, as Python would find it when the
entry runs from the root; anything that does not resolve to a listed file is a
third-party or standard module and is not shipped, and is reported as `missing` with
the paths that would have satisfied it, so a caller can tell a first-party module left
out by an ignore rule from `numpy`. An import inside `try: ... except ImportError` or
under `if TYPE_CHECKING:` is marked optional: the code copes without it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from pack.errors import PackageError

TryStar = getattr(ast, "TryStar", ast.Try)  # Python 3.11+: try/except*
# Handlers under which a failed import is expected and handled.
_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@dataclass(frozen=True)
class Import:
    """One import statement's target: `from ..a.b import c, d` is level 2, 'a.b', ('c', 'd')."""

    level: int
    module: str
    names: tuple[str, ...]
    line: int
    optional: bool = False


@dataclass(frozen=True)
class Missing:
    """An import that resolved to no listed file; `candidates` would have satisfied it,
    each as (path, module as the import names it)."""

    importer: str
    imp: Import
    candidates: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Closure:
    files: tuple[str, ...]  # the entry and every listed file it needs, sorted
    missing: tuple[Missing, ...]


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type
    if kinds is None:
        return True
    elts = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
    for elt in elts:
        name = elt.attr if isinstance(elt, ast.Attribute) else getattr(elt, "id", "")
        if name in _IMPORT_ERRORS:
            return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", "")
    return name == "TYPE_CHECKING"


def _walk(body: list[ast.stmt], optional: bool, found: list[Import]) -> None:
    """Imports are statements: only statement bodies are visited, never expressions."""
    for node in body:
        if isinstance(node, ast.Import):
            found.extend(Import(0, a.name, (), node.lineno, optional) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(a.name for a in node.names if a.name != "*")
            found.append(Import(node.level, node.module or "", names, node.lineno, optional))
        elif isinstance(node, ast.Try | TryStar):
            guarded = optional or any(_catches_import_error(h) for h in node.handlers)
            _walk(node.body, guarded, found)
            for handler in node.handlers:
                _walk(handler.body, optional, found)
            _walk(node.orelse, optional, found)
            _walk(node.finalbody, optional, found)
        elif isinstance(node, ast.If):
            _walk(node.body, optional or _is_type_checking(node.test), found)
            _walk(node.orelse, optional, found)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                _walk(case.body, optional, found)
        else:
            for name in ("body", "orelse", "finalbody"):
                part = getattr(node, name, None)
                if isinstance(part, list):
                    _walk(part, optional, found)


def imported_modules(source: str, filename: str) -> list[Import]:
    """Every import in `source`, wherever it appears, in source order."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise PackageError(
            f"{filename}:{exc.lineno}: cannot parse for --copy auto: {exc.msg}"
        ) from None
    found: list[Import] = []
    _walk(tree.body, False, found)
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


def _module_paths(dotted: str, base: str) -> list[str]:
    """Where module `dotted` under `base` would be, whether or not it is listed."""
    if not dotted:
        return [_join(base, "__init__.py")]
    last = _join(base, dotted.replace(".", "/"))
    return [last + ".py", _join(last, "__init__.py")]


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


def _resolve_one(imp: Import, base: str, files: frozenset[str]) -> list[str]:
    found = _module_files(imp.module, base, files) if imp.module else []
    if not imp.module:
        found += _module_files("", base, files)
    # `from pkg import name` may name a submodule rather than an attribute.
    for name in imp.names:
        found += _module_files(f"{imp.module}.{name}" if imp.module else name, base, files)
    return found


def _targets(imp: Import) -> list[str]:
    """The dotted modules an import may load: the module, and each name as a submodule."""
    targets = [imp.module] if imp.module else []
    targets += [f"{imp.module}.{name}" if imp.module else name for name in imp.names]
    return targets or [""]


def _unresolved(
    imp: Import, base: str | None, bases: list[str], files: frozenset[str]
) -> tuple[tuple[str, str], ...]:
    """(path, module) that would satisfy the parts of `imp` no listed file does. `base`:
    where its module resolved (only its names are then in question), None: nowhere."""
    out: list[tuple[str, str]] = []
    for where in [base] if base is not None else bases:
        for target in _targets(imp):
            if base is not None and target == imp.module:
                continue
            if target and _module_files(target, where, files):
                continue
            shown = "." * imp.level + target
            out += [(path, shown) for path in _module_paths(target, where)]
    return tuple(dict.fromkeys(out))


def resolve_imports(
    entry: str, files: Iterable[str], read: Callable[[str], list[Import]]
) -> Closure:
    """The files `entry` needs (itself included) and the imports no listed file satisfies.
    `read(path)` gives a listed file's imports (see imported_modules)."""
    available = frozenset(files)
    if entry not in available:
        raise PackageError(f"entry file {entry} is not among the listed files (is it ignored?)")
    bases = _bases(entry)
    needed: set[str] = set()
    missing: list[Missing] = []
    # The same module is imported from many files: resolve each (where, what) once, and
    # report an unresolved one at its first import only.
    memo: dict[tuple[tuple[str, ...], int, str, tuple[str, ...]], list[str]] = {}
    queue = [entry]
    while queue:
        current = queue.pop()
        if current in needed:
            continue
        needed.add(current)
        for imp in read(current):
            where: tuple[str, ...]
            if imp.level:
                package = _package_of(current, imp.level)
                where = () if package is None else (package,)
            else:
                where = tuple(bases)
            key = (where, imp.level, imp.module, imp.names)
            found = memo.get(key)
            if found is None:
                found = []
                chosen = None
                for base in where:
                    found = _resolve_one(imp, base, available)
                    if found:
                        chosen = base
                        break
                memo[key] = found
                candidates = _unresolved(imp, chosen, list(where), available) if where else ()
                if candidates:
                    missing.append(Missing(current, imp, candidates))
            queue.extend(f for f in found if f not in needed)
    return Closure(tuple(sorted(needed)), tuple(missing))
