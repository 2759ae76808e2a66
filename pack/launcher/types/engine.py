"""The type engine: Python values <-> `flyteidl.core.literals_pb2.Literal`.

A transformer knows one family of types. The engine asks the built-in transformers
first, then the third-party ones registered under the `pack.types` entry-point
group (loaded only when no built-in matches). Checking a type needs no flyteidl and
no I/O, so `@task` validates signatures cheaply at decoration time; converting
values imports flyteidl.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import Literal, LiteralMap

ENTRY_POINT_GROUP = "pack.types"

T = TypeVar("T")


class UnsupportedType(TypeError):
    """A type no transformer handles; the message says which and what is supported."""


@dataclass(frozen=True)
class TypeContext:
    """Where offloaded values go and where fetched ones land."""

    raw_output_prefix: str | None = None
    local_dir: Path | None = None
    # Where local files passed in are stored, each named by its digest (uploaded once,
    # the same URL every time: a result cache keyed by it hits); None: a fresh folder
    # under raw_output_prefix each time (what a task returns).
    files_prefix: str | None = None
    # Check values without uploading anything: command-line input validation.
    check_only: bool = False

    def require_prefix(self, what: str) -> str:
        if not self.raw_output_prefix:
            raise TypeError(f"cannot store {what}: no raw output prefix for offloaded data")
        return self.raw_output_prefix


@runtime_checkable
class Transformer(Protocol):
    """One family of Python types and its literal form."""

    name: str

    def matches(self, tp: Any) -> bool: ...

    def check(self, tp: Any, engine: TypeEngine) -> None: ...

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal: ...

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any: ...


def type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return (
            tp.__qualname__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
        )
    return repr(tp).replace("typing.", "")


def at(where: str, convert: Callable[..., T], *args: Any) -> T:
    """`convert(*args)`, a TypeError from it prefixed with where in the value it
    happened (`xs: [2]: expected int, got str 'a'`)."""
    try:
        return convert(*args)
    except TypeError as exc:
        raise TypeError(f"{where}: {exc}") from exc


def load_entry_point_transformers() -> list[Transformer]:
    """Transformers third-party packages register in the `pack.types` entry-point group."""
    import importlib.metadata  # only when no built-in transformer matches (~20 ms)

    found: list[Transformer] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            found.append(obj() if isinstance(obj, type) else obj)
        except Exception as exc:  # a broken plugin: say which, not a bare ImportError
            raise UnsupportedType(
                f"the {ENTRY_POINT_GROUP!r} entry point {ep.name!r} ({ep.value}) cannot be "
                f"loaded: {type(exc).__name__}: {exc}"
            ) from exc
    return found


class TypeEngine:
    """Finds a transformer for a type and converts values through it."""

    def __init__(
        self, transformers: Sequence[Transformer], *, plugins: Sequence[Transformer] | None = None
    ) -> None:
        self._builtins = list(transformers)
        self._plugins = None if plugins is None else list(plugins)

    def _plugin_list(self) -> list[Transformer]:
        if self._plugins is None:
            self._plugins = load_entry_point_transformers()
        return self._plugins

    def find(self, tp: Any) -> Transformer:
        for t in self._builtins:
            if t.matches(tp):
                return t
        for t in self._plugin_list():
            if t.matches(tp):
                return t
        raise UnsupportedType(
            f"type {type_name(tp)} is not supported; use int, float, str, bool, bytes, "
            "datetime, timedelta, None, Optional[T], list[T], dict[str, T], an Enum, a "
            "dataclass, pack.File, pack.Directory, or a type registered under the "
            f"{ENTRY_POINT_GROUP!r} entry-point group"
        )

    def check(self, tp: Any) -> None:
        """Raise UnsupportedType unless values of `tp` can travel as literals."""
        self.find(tp).check(tp, self)

    def to_literal(self, value: Any, tp: Any, ctx: TypeContext) -> Literal:
        return self.find(tp).to_literal(value, tp, self, ctx)

    def to_python(self, lit: Literal, tp: Any, ctx: TypeContext) -> Any:
        return self.find(tp).to_python(lit, tp, self, ctx)

    def to_literal_map(
        self, values: Mapping[str, Any], types: Mapping[str, Any], ctx: TypeContext
    ) -> LiteralMap:
        from flyteidl.core.literals_pb2 import LiteralMap

        literals = {}
        for name, tp in types.items():
            if name not in values:
                raise TypeError(f"missing value for {name!r}")
            literals[name] = at(name, self.to_literal, values[name], tp, ctx)
        return LiteralMap(literals=literals)

    def to_python_map(
        self, lm: LiteralMap, types: Mapping[str, Any], ctx: TypeContext
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, tp in types.items():
            if name not in lm.literals:
                raise TypeError(f"missing literal for {name!r}")
            out[name] = at(name, self.to_python, lm.literals[name], tp, ctx)
        return out


@functools.lru_cache(maxsize=1)
def default_engine() -> TypeEngine:
    from pack.launcher.types.builtins import builtin_transformers

    return TypeEngine(builtin_transformers())
