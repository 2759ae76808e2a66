"""Call arguments to named inputs, and map_task's elements. Pure.

A task call binds positional and keyword arguments against the function's
signature (defaults applied) like Python would, but as a TaskError naming the
task. map_task zips the arguments that are lists and broadcasts the rest: an
argument is mapped when it is a list one level deeper than its parameter's type
(`x=[1, 2]` for `x: int`; `xs=[[1], [2, 3]]` for `xs: list[int]`), and passed
whole to every element otherwise (`xs=[1, 2]` for `xs: list[int]`).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pack.errors import TaskError


def bind(task: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """{input name: value} for `task(*args, **kwargs)`, defaults filled in."""
    try:
        bound = inspect.signature(task.fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise TaskError(f"{task.name}(): {exc}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


def _type_depth(tp: Any) -> int:
    """How many lists deep an annotation is: int 0, list[int] 1, list[list[int]] 2."""
    if tp is list:
        return 1
    if typing.get_origin(tp) is list:
        args = typing.get_args(tp)
        return 1 + (_type_depth(args[0]) if args else 0)
    return 0


def _value_depth(value: Any) -> int:
    depth = 0
    while isinstance(value, list | tuple):
        depth += 1
        if not value:
            break
        value = value[0]
    return depth


def is_mapped(value: Any, tp: Any) -> bool:
    """A list one level deeper than the parameter's type: one value per element."""
    if not isinstance(value, list | tuple):
        return False
    return _value_depth(value) > _type_depth(tp)


def elements(task: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The inputs of each element of `map_task(task)(*args, **kwargs)`, in order."""
    inputs = bind(task, args, kwargs)
    types = task.interface.inputs
    mapped = {k: list(v) for k, v in inputs.items() if is_mapped(v, types.get(k))}
    if not mapped:
        raise TaskError(
            f"map_task({task.name}): no argument is a list to map over; pass a list for at "
            f"least one of: {', '.join(types) or '(no inputs)'}"
        )
    lengths = {k: len(v) for k, v in mapped.items()}
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise TaskError(f"map_task({task.name}): mapped lists differ in length ({sizes})")
    count = next(iter(lengths.values()))
    return [
        {k: (mapped[k][i] if k in mapped else v) for k, v in inputs.items()} for i in range(count)
    ]
