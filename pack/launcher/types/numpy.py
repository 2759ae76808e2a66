"""numpy arrays as `.npy` blobs: the example of a third-party transformer.

Registered through the `pack.types` entry-point group in pyproject.toml, as any
other package would register its own. numpy is imported only when an array is
converted, never to decide whether a type matches.
"""

from __future__ import annotations

import io
import typing
from typing import TYPE_CHECKING, Any

from pack.launcher.types.engine import TypeContext, TypeEngine
from pack.launcher.types.files import _blob_literal, blob_uri, offload_prefix

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import Literal

NPY_FORMAT = "npy"


def _is_ndarray(tp: Any) -> bool:
    tp = typing.get_origin(tp) or tp
    return getattr(tp, "__module__", None) == "numpy" and getattr(tp, "__name__", None) == "ndarray"


class NumpyTransformer:
    name = "numpy.ndarray"

    def matches(self, tp: Any) -> bool:
        return _is_ndarray(tp)

    def check(self, tp: Any, engine: TypeEngine) -> None:
        return None

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal:
        import numpy as np

        from pack.packager.store import write_url

        if not isinstance(value, np.ndarray):
            raise TypeError(f"expected numpy.ndarray, got {type(value).__name__}")
        buf = io.BytesIO()
        # allow_pickle=False: object arrays would execute code on load; refuse them here.
        np.save(buf, value, allow_pickle=False)
        url = f"{offload_prefix(ctx, 'an array')}/array.npy"
        write_url(url, buf.getvalue())
        return _blob_literal(url, multipart=False, fmt=NPY_FORMAT)

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
        import numpy as np

        from pack.packager.store import read_url

        return np.load(io.BytesIO(read_url(blob_uri(lit))), allow_pickle=False)
