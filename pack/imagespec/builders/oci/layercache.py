"""Layers built before, by what went into them: a build never makes the same layer twice.

`key` is a sha256 over everything that decides a layer's bytes (the layer format, the
venv layout, the mtime, the bytecode version, and the sha256 of every wheel or file in
it). The index maps it to the blob's digest, size and diff_id; the blob itself stays in
`blobs/` until the cache is cleared. When the registry already has the digest, nothing
is fetched, built or uploaded: a HEAD is all a layer costs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pack.atomic import atomic_write

# Bump when the bytes of a layer for the same inputs change (tar, gzip, install rules).
LAYER_FORMAT = "pack.oci.layer/2"


def layer_key(inputs: Mapping[str, Any]) -> str:
    payload = json.dumps(
        {"format": LAYER_FORMAT, **inputs}, sort_keys=True, separators=(",", ":")
    ).encode()
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class Known:
    digest: str
    size: int
    diff_id: str


class LayerCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"

    def _index(self, key: str) -> Path:
        return self.root / "index" / key[:2] / f"{key}.json"

    def get(self, key: str) -> Known | None:
        try:
            data = json.loads(self._index(key).read_text())
            return Known(str(data["digest"]), int(data["size"]), str(data["diff_id"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, known: Known) -> None:
        data = json.dumps(
            {"digest": known.digest, "size": known.size, "diff_id": known.diff_id}
        ).encode()
        atomic_write(self._index(key), lambda f: f.write(data))

    def blob(self, digest: str) -> Path | None:
        """The cached gzip file of `digest`, if it is still here and whole."""
        path = self.blobs / f"{digest.split(':', 1)[-1]}.tar.gz"
        return path if path.is_file() else None
