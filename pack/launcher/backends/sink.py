"""Where a remote backend's container log lines go: a text stream, line by line."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO


def line_writer(stream: IO[str] | None) -> Callable[[str], None]:
    """A `log` callback writing each line to `stream` at once (nothing when None)."""

    def write(line: str) -> None:
        if stream is not None:
            stream.write(line + "\n")
            stream.flush()

    return write
