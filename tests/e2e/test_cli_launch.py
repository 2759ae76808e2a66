"""The launcher and CLI as a user meets them: errors that say where, per-task interface
checks, local runs that behave like a pod (no servers)."""

from __future__ import annotations

from typing import Any

FLAGS = """
    from pack import task


    @task
    def echo(b: bool) -> bool:
        return b
"""


def test_a_bad_boolean_lists_only_real_values(pack: Any, project: Any) -> None:
    wf = str(project({"flags_mod.py": FLAGS}) / "flags_mod.py")
    r = pack("run", wf, "echo", "--b", "maybe")
    assert r.code == 2
    line = next(x for x in r.err.splitlines() if "'maybe'" in x)
    assert "'--b'" in line
    assert line.endswith("use one of true, yes, on, 1, t, y, false, no, off, 0, f, n")
    # An empty value is not a boolean (click 8.2+ reads it as false).
    r = pack("run", wf, "echo", "--b", "")
    assert r.code == 2 and "'' is not a boolean" in r.err
    r = pack("run", "-o", "json", wf, "echo", "--b", "Yes")
    assert r.code == 0, r.err
    assert r.json()["outputs"] == {"o0": True}
