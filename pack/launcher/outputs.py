"""A task's outputs: one value, none, a fixed tuple, or a NamedTuple — and their wire names.

On the wire every output is its own literal in `outputs.pb`: a single value is `o0`,
`-> tuple[int, str]` is `o0`, `o1`, a NamedTuple's fields keep their names. These
pure functions map a return annotation to those names and types, a returned value
to the named values, and the named values back to what the caller gets.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SINGLE_NAME = "o0"


@dataclass(frozen=True)
class OutputShape:
    """How a task returns: `kind` is none | single | tuple | namedtuple. A single
    value's wire name is `o0`, unless the task names it (a ShellTask's one output)."""

    kind: str
    types: dict[str, Any]
    namedtuple: type | None = None

    @property
    def names(self) -> list[str]:
        return list(self.types)


def is_namedtuple(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


def output_shape(ret: Any) -> OutputShape:
    """The outputs a return annotation declares. TypeError says what is wrong with it."""
    if ret is None or ret is type(None):
        return OutputShape("none", {})
    if is_namedtuple(ret):
        hints = typing.get_type_hints(ret)
        missing = [f for f in ret._fields if f not in hints]
        if missing:
            raise TypeError(f"NamedTuple {ret.__name__}: field {missing[0]!r} has no type")
        if not ret._fields:
            raise TypeError(f"NamedTuple {ret.__name__} has no fields")
        return OutputShape("namedtuple", {f: hints[f] for f in ret._fields}, ret)
    if ret is tuple or typing.get_origin(ret) is tuple:
        args = typing.get_args(ret)
        if not args or Ellipsis in args or args == ((),):
            raise TypeError(
                f"{_name(ret)} has no fixed length; declare each output, e.g. "
                "`-> tuple[int, str]`, or return `list[T]`"
            )
        return OutputShape("tuple", {f"o{i}": tp for i, tp in enumerate(args)})
    return OutputShape("single", {SINGLE_NAME: ret})


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp).replace("typing.", "")


def named_outputs(result: Any, shape: OutputShape) -> dict[str, Any]:
    """A returned value as {wire name: value}; TypeError when it does not fit the shape."""
    if shape.kind == "none":
        return {}
    if shape.kind == "single":
        return {shape.names[0]: result}
    if not isinstance(result, tuple):
        raise TypeError(
            f"expected a tuple of {len(shape.types)} values, got {type(result).__name__}"
        )
    if len(result) != len(shape.types):
        raise TypeError(f"expected {len(shape.types)} values, got a tuple of {len(result)}")
    return dict(zip(shape.names, result, strict=True))


def returned_value(values: Mapping[str, Any], shape: OutputShape) -> Any:
    """What a caller gets back from named output values: None, the value, a tuple, a NamedTuple."""
    if shape.kind == "none":
        return None
    if shape.kind == "single":
        return values[shape.names[0]]
    items = [values[name] for name in shape.names]
    if shape.namedtuple is not None:
        return shape.namedtuple(*items)
    return tuple(items)
