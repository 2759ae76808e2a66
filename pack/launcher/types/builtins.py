"""Built-in transformers: primitives, bytes, None, Optional, list, dict, Enum, dataclasses.

Dataclasses travel as MessagePack in a `Binary` literal tagged "msgpack"; their
fields are encoded by a small recursive codec over the same set of types.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from typing import TYPE_CHECKING, Any

from pack.launcher.types.engine import (
    Transformer,
    TypeContext,
    TypeEngine,
    UnsupportedType,
    at,
    type_name,
)

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import Literal

MSGPACK_TAG = "msgpack"
BYTES_TAG = "bytes"


def _lit() -> Any:
    from flyteidl.core import literals_pb2

    return literals_pb2


def _scalar_literal(**kw: Any) -> Literal:
    m = _lit()
    return m.Literal(scalar=m.Scalar(**kw))


def _expect(value: Any, tp: type, accept: tuple[type, ...] = ()) -> None:
    ok = isinstance(value, (tp, *accept)) and not (isinstance(value, bool) and tp is not bool)
    if not ok:
        raise TypeError(f"expected {tp.__name__}, got {type(value).__name__} {value!r}")


def _kind(lit: Literal, want: str) -> None:
    got = lit.WhichOneof("value")
    if got == "scalar":
        got = lit.scalar.WhichOneof("value")
        if got == "primitive":
            got = lit.scalar.primitive.WhichOneof("value")
    if got != want:
        raise TypeError(f"expected a {want} literal, got {got}")


def is_optional(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        return len(args) == 2 and type(None) in args
    return False


def optional_inner(tp: Any) -> Any:
    return next(a for a in typing.get_args(tp) if a is not type(None))


class _Primitive:
    """int, float, str, bool, datetime, timedelta as flyteidl Primitives."""

    name = "primitive"
    _FIELDS = {
        int: "integer",
        float: "float_value",
        str: "string_value",
        bool: "boolean",
        dt.datetime: "datetime",
        dt.timedelta: "duration",
    }

    def matches(self, tp: Any) -> bool:
        return tp in self._FIELDS

    def check(self, tp: Any, engine: TypeEngine) -> None:
        return None

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal:
        m = _lit()
        field = self._FIELDS[tp]
        _expect(value, tp, (int,) if tp is float else ())
        if tp is dt.datetime:
            from google.protobuf.timestamp_pb2 import Timestamp

            ts = Timestamp()
            ts.FromDatetime(value.astimezone(dt.timezone.utc) if value.tzinfo else value)
            return _scalar_literal(primitive=m.Primitive(datetime=ts))
        if tp is dt.timedelta:
            from google.protobuf.duration_pb2 import Duration

            d = Duration()
            d.FromTimedelta(value)
            return _scalar_literal(primitive=m.Primitive(duration=d))
        return _scalar_literal(primitive=m.Primitive(**{field: tp(value)}))

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
        field = self._FIELDS[tp]
        _kind(lit, field)
        prim = lit.scalar.primitive
        if tp is dt.datetime:
            return prim.datetime.ToDatetime(tzinfo=dt.timezone.utc)
        if tp is dt.timedelta:
            return prim.duration.ToTimedelta()
        return getattr(prim, field)


class _Bytes:
    name = "bytes"

    def matches(self, tp: Any) -> bool:
        return tp is bytes

    def check(self, tp: Any, engine: TypeEngine) -> None:
        return None

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal:
        _expect(value, bytes, (bytearray,))
        return _scalar_literal(binary=_lit().Binary(value=bytes(value), tag=BYTES_TAG))

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
        _kind(lit, "binary")
        return lit.scalar.binary.value


class _NoneType:
    name = "none"

    def matches(self, tp: Any) -> bool:
        return tp is None or tp is type(None)

    def check(self, tp: Any, engine: TypeEngine) -> None:
        return None

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal:
        if value is not None:
            raise TypeError(f"expected None, got {type(value).__name__} {value!r}")
        return _scalar_literal(none_type=_lit().Void())

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
        return None


class _Optional:
    name = "optional"

    def matches(self, tp: Any) -> bool:
        return is_optional(tp)

    def check(self, tp: Any, engine: TypeEngine) -> None:
        engine.check(optional_inner(tp))

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal:
        if value is None:
            return _scalar_literal(none_type=_lit().Void())
        return engine.to_literal(value, optional_inner(tp), ctx)

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
        if lit.WhichOneof("value") == "scalar" and lit.scalar.WhichOneof("value") == "none_type":
            return None
        return engine.to_python(lit, optional_inner(tp), ctx)


class _List:
    name = "list"

    def matches(self, tp: Any) -> bool:
        return tp is list or typing.get_origin(tp) is list

    def check(self, tp: Any, engine: TypeEngine) -> None:
        args = typing.get_args(tp)
        if len(args) != 1:
            raise UnsupportedType("a list needs its item type, e.g. list[int]")
        engine.check(args[0])

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal:
        _expect(value, list, (tuple,))
        (item,) = typing.get_args(tp)
        m = _lit()
        items = [at(f"[{i}]", engine.to_literal, v, item, ctx) for i, v in enumerate(value)]
        return m.Literal(collection=m.LiteralCollection(literals=items))

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
        if lit.WhichOneof("value") != "collection":
            raise TypeError(f"expected a collection literal, got {lit.WhichOneof('value')}")
        (item,) = typing.get_args(tp)
        return [engine.to_python(v, item, ctx) for v in lit.collection.literals]


class _Dict:
    name = "dict"

    def matches(self, tp: Any) -> bool:
        return tp is dict or typing.get_origin(tp) is dict

    def check(self, tp: Any, engine: TypeEngine) -> None:
        args = typing.get_args(tp)
        if len(args) != 2 or args[0] is not str:
            raise UnsupportedType("a dict needs str keys and a value type, e.g. dict[str, float]")
        engine.check(args[1])

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal:
        _expect(value, dict)
        _, vt = typing.get_args(tp)
        m = _lit()
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"dict keys must be str, got {type(k).__name__} {k!r}")
            out[k] = at(f"[{k!r}]", engine.to_literal, v, vt, ctx)
        return m.Literal(map=m.LiteralMap(literals=out))

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
        if lit.WhichOneof("value") != "map":
            raise TypeError(f"expected a map literal, got {lit.WhichOneof('value')}")
        _, vt = typing.get_args(tp)
        return {k: engine.to_python(v, vt, ctx) for k, v in lit.map.literals.items()}


class _Enum:
    """An Enum travels as its string value (Flyte's convention); values must be str."""

    name = "enum"

    def matches(self, tp: Any) -> bool:
        return isinstance(tp, type) and issubclass(tp, enum.Enum)

    def check(self, tp: Any, engine: TypeEngine) -> None:
        bad = [m.name for m in tp if not isinstance(m.value, str)]
        if bad:
            raise UnsupportedType(
                f"enum {type_name(tp)} has non-str values ({', '.join(bad)}); use str values"
            )

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal:
        if isinstance(value, str) and not isinstance(value, tp):
            value = tp(value)
        _expect(value, tp)
        return _scalar_literal(primitive=_lit().Primitive(string_value=value.value))

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
        _kind(lit, "string_value")
        return tp(lit.scalar.primitive.string_value)


# --- dataclasses: a recursive plain-value codec, then MessagePack -----------------------


def _is_file_type(tp: Any) -> bool:
    from pack.launcher.types.files import Directory, File

    return tp is File or tp is Directory


def check_plain(tp: Any) -> None:
    """Types a dataclass field may have."""
    if tp in (int, float, str, bool, bytes, dt.datetime, dt.timedelta) or tp is type(None):
        return
    if is_optional(tp):
        return check_plain(optional_inner(tp))
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is list and len(args) == 1:
        return check_plain(args[0])
    if origin is dict and len(args) == 2 and args[0] is str:
        return check_plain(args[1])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        for name, ftp in typing.get_type_hints(tp).items():
            try:
                check_plain(ftp)
            except UnsupportedType as exc:
                raise UnsupportedType(f"{type_name(tp)}.{name}: {exc}") from None
        return None
    if _is_file_type(tp):
        return None
    raise UnsupportedType(f"field type {type_name(tp)} is not supported inside a dataclass")


def to_plain(value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
    if tp in (int, float, str, bool, bytes):
        _expect(value, tp, (int,) if tp is float else ())
        return value
    if tp is type(None):
        return None
    if tp is dt.datetime:
        _expect(value, dt.datetime)
        return value.isoformat()
    if tp is dt.timedelta:
        _expect(value, dt.timedelta)
        return value.total_seconds()
    if is_optional(tp):
        return None if value is None else to_plain(value, optional_inner(tp), engine, ctx)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        _expect(value, list, (tuple,))
        return [at(f"[{i}]", to_plain, v, args[0], engine, ctx) for i, v in enumerate(value)]
    if origin is dict:
        _expect(value, dict)
        return {k: at(f"[{k!r}]", to_plain, v, args[1], engine, ctx) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value).value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, tp):
            raise TypeError(f"expected {type_name(tp)}, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        return {
            f.name: at(
                f"{type_name(tp)}.{f.name}",
                to_plain,
                getattr(value, f.name),
                hints[f.name],
                engine,
                ctx,
            )
            for f in dataclasses.fields(tp)
        }
    if _is_file_type(tp):
        lit = engine.to_literal(value, tp, ctx)
        return {"uri": lit.scalar.blob.uri}
    raise TypeError(f"cannot encode {type_name(tp)}")


def from_plain(obj: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
    if tp is float and isinstance(obj, int):
        return float(obj)
    if tp in (int, float, str, bool, bytes) or tp is type(None):
        return obj
    if tp is dt.datetime:
        return dt.datetime.fromisoformat(obj)
    if tp is dt.timedelta:
        return dt.timedelta(seconds=obj)
    if is_optional(tp):
        return None if obj is None else from_plain(obj, optional_inner(tp), engine, ctx)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return [from_plain(v, args[0], engine, ctx) for v in obj]
    if origin is dict:
        return {k: from_plain(v, args[1], engine, ctx) for k, v in obj.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(obj)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        kwargs = {k: from_plain(v, hints[k], engine, ctx) for k, v in obj.items() if k in hints}
        return tp(**kwargs)
    if _is_file_type(tp):
        # A bare string is what a user types on the command line: a local path or a URL.
        return tp(obj if isinstance(obj, str) else obj["uri"], local_dir=ctx.local_dir)
    raise TypeError(f"cannot decode {type_name(tp)}")


class _Dataclass:
    name = "dataclass"

    def matches(self, tp: Any) -> bool:
        return isinstance(tp, type) and dataclasses.is_dataclass(tp)

    def check(self, tp: Any, engine: TypeEngine) -> None:
        check_plain(tp)

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal:
        import msgpack

        data = msgpack.packb(to_plain(value, tp, engine, ctx), use_bin_type=True)
        return _scalar_literal(binary=_lit().Binary(value=data, tag=MSGPACK_TAG))

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
        import msgpack

        _kind(lit, "binary")
        if lit.scalar.binary.tag != MSGPACK_TAG:
            raise TypeError(f"expected a {MSGPACK_TAG!r} binary, got tag {lit.scalar.binary.tag!r}")
        return from_plain(msgpack.unpackb(lit.scalar.binary.value, raw=False), tp, engine, ctx)


def builtin_transformers() -> list[Transformer]:
    from pack.launcher.types.files import DirectoryTransformer, FileTransformer

    return [
        _Primitive(),
        _Bytes(),
        _NoneType(),
        _Optional(),
        _List(),
        _Dict(),
        _Enum(),
        FileTransformer(),
        DirectoryTransformer(),
        _Dataclass(),
    ]
