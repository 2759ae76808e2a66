"""Digest value type and the sha256 helpers every other module uses."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_HEX = re.compile(r"^[0-9a-f]{64}\Z")
CHUNK = 1 << 20


@dataclass(frozen=True, order=True)
class Digest:
    """A sha256 digest; `str()` gives the `sha256:<hex>` form used on the wire."""

    hex: str

    def __post_init__(self) -> None:
        if not _HEX.match(self.hex):
            raise ValueError(f"not a sha256 hex digest: {self.hex!r}")

    @classmethod
    def parse(cls, text: str) -> Digest:
        algo, sep, value = text.partition(":")
        if not sep:
            return cls(text)
        if algo != "sha256":
            raise ValueError(
                f"unsupported digest algorithm {algo!r} in {text!r}; only sha256 is used"
            )
        return cls(value)

    @classmethod
    def of_bytes(cls, data: bytes) -> Digest:
        return cls(hashlib.sha256(data).hexdigest())

    @classmethod
    def of_stream(cls, stream: BinaryIO) -> Digest:
        h = hashlib.sha256()
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            h.update(chunk)
        return cls(h.hexdigest())

    @classmethod
    def of_file(cls, path: Path) -> Digest:
        with open(path, "rb") as f:
            return cls.of_stream(f)

    def short(self, n: int = 12) -> str:
        return self.hex[:n]

    def __str__(self) -> str:
        return f"sha256:{self.hex}"
