"""Command-line options generated from a task's signature (`pack run wf.py main --x 3`).

Scalars get click types (int, float, str, bool flags, Enum choices, ISO datetimes,
durations); File/Directory take a local path or a store URL; lists, dicts,
dataclasses and arrays take JSON. A bad value is refused by click naming the option.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from pack.launcher.task import Task
from pack.launcher.types.builtins import from_plain, is_optional, optional_inner, to_plain
from pack.launcher.types.engine import TypeContext, default_engine, type_name
from pack.launcher.types.files import Directory, File

_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?\Z"
)


class DateTimeType(click.ParamType):
    name = "datetime"

    def convert(self, value: Any, param: Any, ctx: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO date/time such as 2024-05-01T12:00:00", param, ctx)


class BoolType(click.ParamType):
    """true/false and the usual spellings; unlike click.BOOL (8.2+), an empty value is
    refused, not read as false."""

    name = "boolean"
    TRUE = ("true", "yes", "on", "1", "t", "y")
    FALSE = ("false", "no", "off", "0", "f", "n")

    def convert(self, value: Any, param: Any, ctx: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        self.fail(
            f"{value!r} is not a boolean; use one of {', '.join(self.TRUE + self.FALSE)}",
            param,
            ctx,
        )


class DurationType(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        match = _DURATION.match(str(value).strip())
        if not str(value).strip() or match is None:
            self.fail(f"{value!r} is not a duration such as 90, 90s, 5m, 1h30m or 2d", param, ctx)
        d, h, m, s = (float(x) if x else 0.0 for x in match.groups())
        return dt.timedelta(days=d, hours=h, minutes=m, seconds=s)


class BytesType(click.ParamType):
    name = "text"

    def convert(self, value: Any, param: Any, ctx: Any) -> bytes:
        return value if isinstance(value, bytes) else str(value).encode()


class PathRefType(click.ParamType):
    """A local path that must exist, or a store URL passed through."""

    def __init__(self, kind: type[File] | type[Directory]) -> None:
        self.kind = kind
        self.name = "url-or-" + ("file" if kind is File else "directory")

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, self.kind):
            return value
        text = str(value)
        if "://" in text:
            return self.kind(text)
        path = Path(text)
        ok = path.is_file() if self.kind is File else path.is_dir()
        if not ok:
            self.fail(
                f"{text!r}: no such {'file' if self.kind is File else 'directory'}", param, ctx
            )
        return self.kind(path.resolve())


class JsonType(click.ParamType):
    """JSON for lists, dicts, dataclasses (and arrays), checked against the type."""

    def __init__(self, tp: Any) -> None:
        self.tp = tp
        self.name = "json"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            obj = json.loads(value)
        except json.JSONDecodeError as exc:
            self.fail(f"{value!r} is not valid JSON ({exc.msg})", param, ctx)
        engine = default_engine()
        if getattr(self.tp, "__name__", None) == "ndarray":
            import numpy as np

            return np.asarray(obj)
        try:
            converted = from_plain(obj, self.tp, engine, TypeContext())
            # validates every element; local files are checked, not uploaded
            to_plain(converted, self.tp, engine, TypeContext(check_only=True))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            self.fail(f"{value!r} is not a valid {type_name(self.tp)}: {exc}", param, ctx)
        return converted


def click_type(tp: Any) -> click.ParamType:
    if is_optional(tp):
        return click_type(optional_inner(tp))
    simple: dict[Any, click.ParamType] = {
        int: click.INT,
        float: click.FLOAT,
        str: click.STRING,
        bool: BoolType(),
        bytes: BytesType(),
        dt.datetime: DateTimeType(),
        dt.timedelta: DurationType(),
    }
    if tp in simple:
        return simple[tp]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return click.Choice([m.value for m in tp])
    if tp is File or tp is Directory:
        return PathRefType(tp)
    return JsonType(tp)


def _flag_names(name: str) -> list[str]:
    dashed = name.replace("_", "-")
    return [f"--{dashed}"] if dashed == name else [f"--{dashed}", f"--{name}"]


def task_options(task: Task) -> list[click.Option]:
    opts: list[click.Option] = []
    iface = task.interface
    for name, tp in iface.inputs.items():
        has_default = name in iface.defaults
        default = iface.defaults.get(name)
        help_text = type_name(tp)
        if tp is bool and has_default:
            dashed = name.replace("_", "-")
            opts.append(
                click.Option(
                    [f"--{dashed}/--no-{dashed}", name],
                    default=bool(default),
                    show_default=True,
                    help=help_text,
                )
            )
            continue
        if isinstance(default, enum.Enum):
            default = default.value
        elif has_default and default is not None and isinstance(click_type(tp), JsonType):
            default = json.dumps(to_plain(default, tp, default_engine(), TypeContext()))
        # click >= 8.2 treats an explicit default=None as "has a default": pass none at all.
        extra: dict[str, Any] = {"default": default, "show_default": True} if has_default else {}
        opts.append(
            click.Option(
                [*_flag_names(name), name],
                type=click_type(tp),
                required=not has_default,
                help=help_text,
                **extra,
            )
        )
    return opts


def task_command(task: Task, prog: str) -> click.Command:
    doc = (task.fn.__doc__ or "").strip()
    return click.Command(
        name=prog,
        params=list(task_options(task)),
        help=doc or f"Run task {task.name}.",
        context_settings={"help_option_names": ["-h", "--help"]},
        callback=lambda **kw: kw,
    )


def parse_task_args(task: Task, args: list[str], prog: str) -> Mapping[str, Any] | None:
    """Values for the task's inputs from `args`; None when --help was shown."""
    cmd = task_command(task, prog)
    try:
        with cmd.make_context(prog, list(args)) as ctx:
            values: dict[str, Any] = cmd.invoke(ctx)
    except click.exceptions.Exit:
        return None
    return values
