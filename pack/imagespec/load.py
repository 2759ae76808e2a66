"""Import a spec.py by path and collect its module-level ImageSpecs.

Any failure while importing (syntax error, import error, a bad field, any exception) is
reported as one SpecError `spec.py:LINE: message`, LINE taken from the deepest traceback
frame in that file, plus `(raised at helper.py:3 in f)` when the innermost frame in the
user's files is elsewhere; the CLI prints one line, and the traceback (the error's
__cause__) under -v.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import re
import sys
from pathlib import Path

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
    except (Exception, SystemExit) as exc:  # any failure of user code becomes one line
        from pack.tracebacks import innermost_in, raised_at  # only on failure

        what, hint = (
            (exc.message, exc.hint) if isinstance(exc, PackError) else (_describe(exc), None)
        )
        line = innermost_in(exc, real) or 1
        where = raised_at(exc, real, real.parent)
        raise SpecError(f"{shown}:{line}: {what}{where}", hint=hint) from exc
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
    from pack.tracebacks import describe

    return describe(exc)
