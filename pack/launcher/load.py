"""Load a task from a file path the way the pod will: by module name under a source root.

The source root is the first folder above the file that is not a package (has no
`__init__.py`), so `proj/pkg/wf.py` in package `pkg` is module `pkg.wf` under `proj`,
and a plain `examples/ml/wf.py` is module `wf` under `examples/ml` - sibling imports
(`import features`) then work both here and in the container.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pack.errors import PackError, TaskError, UsageError
from pack.launcher.task import Task


@dataclass(frozen=True)
class TaskSource:
    file: Path
    root: Path
    module: str


def source_of(file: Path) -> TaskSource:
    file = file.resolve()
    if not file.is_file():
        raise UsageError(f"{file}: no such file")
    if file.suffix != ".py":
        raise UsageError(f"{file}: expected a Python file (.py)")
    parts = [file.stem] if file.stem != "__init__" else []
    folder = file.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    if not parts or not all(p.isidentifier() for p in parts):
        raise UsageError(
            f"{file}: {'.'.join(parts) or file.name!r} is not an importable module name"
        )
    return TaskSource(file=file, root=folder, module=".".join(parts))


def import_source(source: TaskSource) -> Any:
    root = str(source.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    loaded = sys.modules.get(source.module)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != source.file:
        del sys.modules[source.module]  # another file with the same module name
    try:
        return importlib.import_module(source.module)
    except (Exception, SystemExit) as exc:  # any failure of the user's code: one line
        from pack.tracebacks import describe, innermost_in, raised_at  # only on failure

        line = innermost_in(exc, source.file)
        at = f"{source.file}:{line}" if line else str(source.file)
        where = raised_at(exc, source.file, source.root)
        if isinstance(exc, PackError):  # e.g. a bad @task option: its own message and hint
            raise TaskError(f"{at}: {exc.message}{where}", hint=exc.hint) from exc
        raise TaskError(f"{at}: cannot import: {describe(exc)}{where}") from exc


def tasks_in(module: Any) -> dict[str, Task]:
    return {k: v for k, v in vars(module).items() if isinstance(v, Task)}


def load_task(file: Path, name: str) -> tuple[Task, TaskSource]:
    source = source_of(file)
    module = import_source(source)
    obj = getattr(module, name, None)
    if not isinstance(obj, Task):
        found = ", ".join(sorted(tasks_in(module))) or "none"
        what = "is not a task" if obj is not None else "not found"
        raise UsageError(f"{source.file.name}: task {name!r} {what}; tasks in this file: {found}")
    return obj, source
