"""Where an exception happened in the user's code.

When importing a spec or task file fails, the useful place is the innermost frame
in the user's own files (`helper.py:3`), not pack's loader, importlib, the standard
library or an installed package the user's code called. Standard library only: the
in-container entrypoints import this module too.
"""

from __future__ import annotations

import functools
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

PACK_DIR = str(Path(__file__).resolve().parent)
_INSTALLED = ("site-packages", "dist-packages")


@dataclass(frozen=True)
class Location:
    """A line in a file, and the function it is in (`<module>` at the top level)."""

    file: str
    line: int
    function: str | None = None

    def shown(self, base: Path) -> str:
        """`helper.py:3`: the path relative to `base` (the folder of the file being
        loaded) when below it, else absolute."""
        path = Path(self.file)
        try:
            path = path.relative_to(os.path.realpath(base))
        except ValueError:
            pass
        return f"{path}:{self.line}"


def is_pack_file(filename: str) -> bool:
    """pack's own modules, and importlib's frozen bootstrap that imports user code."""
    return filename.startswith(PACK_DIR + os.sep) or filename.startswith("<frozen ")


@functools.lru_cache(maxsize=1)
def _stdlib_dirs() -> tuple[str, ...]:
    """The standard library's folders (installed packages are told by their folder name)."""
    import sysconfig

    paths = sysconfig.get_paths()
    found = {paths[key] for key in ("stdlib", "platstdlib") if paths.get(key)}
    return tuple(sorted(os.path.join(os.path.realpath(p), "") for p in found))


def is_user_file(filename: str) -> bool:
    """A file of the user's: not pack's, not generated (`<string>`), not the standard
    library or an installed package."""
    if not filename or filename.startswith("<") or is_pack_file(filename):
        return False
    real = os.path.realpath(filename)
    if real.startswith(PACK_DIR + os.sep):
        return False
    parts = Path(real).parts
    if any(part in _INSTALLED for part in parts):
        return False
    return not real.startswith(_stdlib_dirs())


def innermost_user_location(exc: BaseException) -> Location | None:
    """The innermost place in the user's files where `exc` was raised (for a
    SyntaxError, the offending line itself), or None when it never went through them."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        if is_user_file(exc.filename):
            return Location(os.path.realpath(exc.filename), exc.lineno)
    found = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if is_user_file(filename):
            found = Location(os.path.realpath(filename), lineno, frame.f_code.co_name)
    return found


def innermost_in(exc: BaseException, file: Path) -> int | None:
    """The line of the innermost frame of `exc` in `file` (a SyntaxError's own line
    when it is in `file`), or None when the traceback never went through it."""
    real = os.path.realpath(file)
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        if os.path.realpath(exc.filename) == real:
            return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if os.path.realpath(frame.f_code.co_filename) == real:
            line = lineno
    return line


def raised_at(exc: BaseException, file: Path, base: Path) -> str:
    """` (raised at helper.py:3 in boom)` when the innermost user frame of `exc` is
    outside `file`, else "" (the caller names `file` and its line already); paths
    relative to `base`."""
    where = innermost_user_location(exc)
    if where is None or where.file == os.path.realpath(file):
        return ""
    in_function = f" in {where.function}" if where.function not in (None, "<module>") else ""
    return f" (raised at {where.shown(base)}{in_function})"


def describe(exc: BaseException) -> str:
    """`ValueError: first line of the message`, one line whatever the exception."""
    if isinstance(exc, SystemExit):
        return f"the file called exit({exc.code!r})"
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg}"
    text = str(exc).splitlines()[0] if str(exc).strip() else ""
    kind = type(exc).__name__
    return f"{kind}: {text}" if text else kind
