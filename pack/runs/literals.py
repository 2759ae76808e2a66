"""A typeless reading of flyteidl literals: what `pack outputs`, `pack inputs`,
`pack status` and the console show without importing the task's code.

Scalars become their Python values, Files and Directories their URLs,
dataclasses (MessagePack) objects, lists and maps stay lists and maps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BlobValue:
    """A File (single) or Directory (multipart) found in a literal, by its URL."""

    path: str  # where in the map: "o0", "o0[2]", "o0.key"
    uri: str
    multipart: bool
    format: str


def literal_value(lit: Any) -> Any:
    """A JSON-able value for one Literal."""
    kind = lit.WhichOneof("value")
    if kind == "scalar":
        scalar = lit.scalar
        which = scalar.WhichOneof("value")
        if which == "primitive":
            prim = scalar.primitive
            field = prim.WhichOneof("value")
            value: Any = getattr(prim, field) if field else None
            return value.ToJsonString() if hasattr(value, "ToJsonString") else value
        if which == "none_type":
            return None
        if which == "blob":
            return scalar.blob.uri
        if which == "binary":
            import msgpack

            try:
                return _jsonable(msgpack.unpackb(scalar.binary.value))
            except Exception:  # noqa: BLE001 - not MessagePack: show its size
                return f"<{len(scalar.binary.value)} bytes>"
        if which == "generic":
            from google.protobuf.json_format import MessageToDict

            return MessageToDict(scalar.generic)
        return f"<{which}>"
    if kind == "collection":
        return [literal_value(v) for v in lit.collection.literals]
    if kind == "map":
        return {k: literal_value(v) for k, v in lit.map.literals.items()}
    return None


def literal_map_values(data: bytes, order: Sequence[str] = ()) -> dict[str, Any]:
    """`inputs.pb` / `outputs.pb` bytes -> {name: JSON-able value}, by name (a
    protobuf map keeps no order); `order` puts the names it lists first, in its order."""
    from flyteidl.core.literals_pb2 import LiteralMap

    lits = LiteralMap.FromString(data).literals
    names = [n for n in order if n in lits] + sorted(n for n in lits if n not in order)
    return {name: literal_value(lits[name]) for name in names}


def blobs_in(data: bytes) -> Iterator[BlobValue]:
    """Every File/Directory URL in a LiteralMap's bytes, with where it sits."""
    from flyteidl.core import types_pb2
    from flyteidl.core.literals_pb2 import LiteralMap

    def walk(lit: Any, where: str) -> Iterator[BlobValue]:
        kind = lit.WhichOneof("value")
        if kind == "scalar" and lit.scalar.WhichOneof("value") == "blob":
            blob = lit.scalar.blob
            multipart = blob.metadata.type.dimensionality == types_pb2.BlobType.MULTIPART
            yield BlobValue(where, blob.uri, multipart, blob.metadata.type.format)
        elif kind == "collection":
            for i, item in enumerate(lit.collection.literals):
                yield from walk(item, f"{where}[{i}]")
        elif kind == "map":
            for key in sorted(lit.map.literals):
                yield from walk(lit.map.literals[key], f"{where}.{key}")

    lits = LiteralMap.FromString(data).literals
    for name in lits:
        yield from walk(lits[name], name)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(_jsonable(k)): _jsonable(v) for k, v in value.items()}
    return value


def plain(value: Any) -> str:
    """One value for a terminal: strings as they are, the rest as compact JSON."""
    import json

    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)
