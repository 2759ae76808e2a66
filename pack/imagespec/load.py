"""Import a spec.py by path and collect its module-level ImageSpecs.

Any failure while importing (syntax error, import error, a bad field, any exception) is
reported as one SpecError `spec.py:LINE: message`, LINE taken from the deepest traceback
frame in that file, so the CLI prints one line and no traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import re
import sys
import traceback
from pathlib import Path
from types import TracebackType

from pack.errors import PackError, SpecError
from pack.imagespec.spec import ImageSpec

_UNKNOWN = re.compile(r"ImageSpec\.__init__\(\) got an unexpected keyword argument '(\w+)'")
_MISSING = re.compile(r"ImageSpec\.__init__\(\) missing \d+ required positional argument")
_FIELDS = [n for n in ImageSpec.__dataclass_fields__ if n != "base_dir"]


def load_specs(path: str | Path) -> dict[str, ImageSpec]:
    """Variable name -> ImageSpec for every module-level spec in `path`, in definition order."""
    path = Path(path)
    shown = str(path)
    if not path.is_file():
        raise SpecError(f"{shown}: no such spec file")
    real = path.resolve()
    module_name = "_pack_spec_" + hashlib.sha256(str(real).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(module_name, real)
    if spec is None or spec.loader is None:
        raise SpecError(f"{shown}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(real.parent)
    # The spec's folder goes on sys.path so it can import its neighbours; the module is in
    # sys.modules only while it runs (dataclasses and pickling look it up there).
    sys.path.insert(0, folder)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        line = exc.lineno if exc.filename and Path(exc.filename).resolve() == real else None
        raise SpecError(f"{shown}:{line or 1}: SyntaxError: {exc.msg}") from None
    except PackError as exc:
        raise SpecError(f"{shown}:{_line(exc.__traceback__, real)}: {exc.message}") from None
    except (Exception, SystemExit) as exc:  # any failure of user code becomes one line
        raise SpecError(f"{shown}:{_line(exc.__traceback__, real)}: {_describe(exc)}") from None
    finally:
        sys.modules.pop(module_name, None)
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    found = {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, ImageSpec) and not name.startswith("_")
    }
    if not found:
        raise SpecError(
            f"{shown}: defines no ImageSpec at module level "
            "(assign one to a variable, e.g. `image = ImageSpec(name=...)`)"
        )
    return found


def _line(tb: TracebackType | None, real: Path) -> int:
    line = 1
    for frame, lineno in traceback.walk_tb(tb):
        if Path(frame.f_code.co_filename).resolve() == real:
            line = lineno
    return line


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, TypeError):
        unknown = _UNKNOWN.search(text)
        if unknown:
            name = unknown.group(1)
            close = difflib.get_close_matches(name, _FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"ImageSpec: unknown field {name!r}{hint}"
        if _MISSING.search(text):
            return "ImageSpec: missing required field 'name'"
    if isinstance(exc, SystemExit):
        return f"spec file called exit({exc.code!r})"
    kind = type(exc).__name__
    return f"{kind}: {text}" if text else kind
