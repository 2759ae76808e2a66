"""`ShellTask`: a shell script with typed inputs and outputs, run like any task.

    count = ShellTask(
        name="count",
        script='wc -l < "{inputs.data}" > "{outputs.lines}"',
        inputs={"data": File},
        outputs={"lines": int},
        image=tools,
    )

The language-agnostic contract (inputs.pb in, outputs.pb out) made usable from a
script: `{inputs.x}` becomes the value as text (a File or Directory: its local
path, fetched first); `{outputs.y}` becomes a path the script writes: the file
(File), the folder (Directory, created empty), or a file holding the value
(int, float, str, bool: its text, stripped). Values are substituted as text: quote
them in the script. A non-zero exit fails the task, naming the exit code and the
script's last output line. Runnable alone (`pack run wf.py count --data f.txt`) and callable from a
workflow, in its own pod with its own image, like any task.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import tempfile
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pack.errors import TaskError
from pack.launcher.outputs import OutputShape
from pack.launcher.task import TASK_OPTIONS, Interface, Task, check_options
from pack.launcher.types.engine import type_name
from pack.launcher.types.files import Directory, File

SCALARS = (int, float, str, bool)
_PLACEHOLDER = re.compile(r"\{(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\}")


class ShellScriptFailed(RuntimeError):
    """The script exited non-zero; the message ends with its last output lines."""


def _check_types(task: str, kind: str, types: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(types, Mapping):
        raise TaskError(f"ShellTask {task}: {kind} must be a mapping of name to type")
    for name, tp in types.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise TaskError(f"ShellTask {task}: {kind} name {name!r} is not an identifier")
        if tp not in (*SCALARS, File, Directory):
            raise TaskError(
                f"ShellTask {task}: {kind} {name!r} has type {type_name(tp)}; a script takes "
                "and gives int, float, str, bool, pack.File or pack.Directory"
            )
    return dict(types)


def _render(script: str, values: Mapping[str, Mapping[str, str]]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)][m.group(2)], script)


def _read_output(name: str, tp: Any, path: Path) -> Any:
    if tp is File:
        if not path.is_file():
            raise ShellScriptFailed(f"the script wrote no file at {{outputs.{name}}} ({path})")
        return File(path)
    if tp is Directory:
        return Directory(path)
    if not path.is_file():
        raise ShellScriptFailed(f"the script wrote nothing to {{outputs.{name}}} ({path})")
    text = path.read_text(encoding="utf-8").strip()
    if tp is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ShellScriptFailed(f"output {name}: {text!r} is not true/false/1/0")
        return text.lower() in ("true", "1")
    try:
        return tp(text)
    except ValueError:
        raise ShellScriptFailed(f"output {name}: {text!r} is not {type_name(tp)}") from None


class ShellTask(Task):
    def __init__(
        self,
        name: str,
        script: str,
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None,
        *,
        shell: str = "/bin/bash",
        **options: Any,
    ) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise TaskError(f"ShellTask: name {name!r} must be a Python identifier")
        if not isinstance(script, str) or not script.strip():
            raise TaskError(f"ShellTask {name}: script must be a non-empty string")
        check_options(f"ShellTask {name}", options, TASK_OPTIONS)
        in_types = _check_types(name, "inputs", inputs or {})
        out_types = _check_types(name, "outputs", outputs or {})
        declared = {"inputs": in_types, "outputs": out_types}
        for m in _PLACEHOLDER.finditer(script):
            if m.group(2) not in declared[m.group(1)]:
                raise TaskError(
                    f"ShellTask {name}: the script uses {{{m.group(1)}.{m.group(2)}}} but "
                    f"{m.group(1)} declares only {', '.join(declared[m.group(1)]) or 'nothing'}"
                )
        self.script = script
        self.shell = shell
        if len(out_types) > 1:
            fields = list(out_types.items())
            nt = typing.NamedTuple(f"{name}_outputs", fields)  # type: ignore[misc]
            shape = OutputShape("namedtuple", out_types, nt)
        elif out_types:
            shape = OutputShape("single", out_types)
        else:
            shape = OutputShape("none", {})
        fn = self._function(name, in_types)
        caller = sys._getframe(1).f_globals.get("__name__", "__main__")
        super().__init__(
            fn,
            name=name,
            module=caller,
            interface=Interface(inputs=in_types, defaults={}, outputs=out_types, shape=shape),
            **options,
        )

    def _function(self, name: str, in_types: Mapping[str, Any]) -> Any:
        def run_script(**kwargs: Any) -> Any:
            return self.run_script(kwargs)

        run_script.__name__ = name
        run_script.__qualname__ = name
        run_script.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=tp)
                for k, tp in in_types.items()
            ]
        )
        return run_script

    def run_script(self, inputs: Mapping[str, Any]) -> Any:
        from pack.launcher.context import current_context
        from pack.launcher.outputs import returned_value

        work = Path(
            tempfile.mkdtemp(prefix=f"shell-{self.name}-", dir=current_context().working_dir)
        )
        text_in: dict[str, str] = {}
        for key, tp in self.interface.inputs.items():
            value = inputs[key]
            if tp in (File, Directory):
                value = value if isinstance(value, tp) else tp(value)
                text_in[key] = str(value.path)  # fetched now: the script reads a local path
            else:
                text_in[key] = str(value).lower() if tp is bool else str(value)
        paths: dict[str, Path] = {}
        for key, tp in self.interface.outputs.items():
            paths[key] = work / "outputs" / key
            paths[key].parent.mkdir(parents=True, exist_ok=True)
            if tp is Directory:
                paths[key].mkdir()
        rendered = _render(
            self.script, {"inputs": text_in, "outputs": {k: str(p) for k, p in paths.items()}}
        )
        proc = subprocess.run(
            [self.shell, "-c", rendered],
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            check=False,
        )
        sys.stdout.write(proc.stdout)
        sys.stdout.flush()
        if proc.returncode != 0:
            # One line: the whole output is in the log above.
            last = (proc.stdout.rstrip().splitlines() or [""])[-1].strip()
            raise ShellScriptFailed(
                f"ShellTask {self.name}: the script exited with code {proc.returncode}"
                + (f" (last output: {last})" if last else "")
            )
        values = {k: _read_output(k, tp, paths[k]) for k, tp in self.interface.outputs.items()}
        return returned_value(values, self.interface.shape)

    def __repr__(self) -> str:
        return f"<pack ShellTask {self.qualified_name}>"
