"""The launcher and CLI as a user meets them: errors that say where, per-task interface
checks, local runs that behave like a pod (no servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.launcher.test_task_interface import MIXED

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


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pack: error: ")
    return lines[0]


SPEC_HELPER = """
    def explode():
        x = 1
        raise RuntimeError("helper explodes")
"""


def test_spec_import_error_names_the_innermost_user_line(pack: Any, project: Any) -> None:
    root = project(
        {
            "spechelper_a.py": SPEC_HELPER,
            "spec.py": """
            from pack import ImageSpec
            import spechelper_a

            spechelper_a.explode()
            image = ImageSpec(name="x")
            """,
        }
    )
    spec = str(root / "spec.py")
    for verb in ("hash", "build"):
        r = pack(verb, spec)
        assert r.code == 2
        line = _one_error_line(r.err)
        assert line == (
            f"pack: error: {spec}:4: RuntimeError: helper explodes "
            "(raised at spechelper_a.py:3 in explode); -v shows the traceback"
        )
    for argv in (("-v", "hash", spec), ("hash", "-v", spec), ("build", "--verbose", spec)):
        r = pack(*argv)
        assert r.code == 2
        assert r.err.startswith("Traceback (most recent call last):"), r.err
        assert 'spechelper_a.py", line 3, in explode' in r.err
        last = r.err.strip().splitlines()[-1]
        assert last.endswith("(raised at spechelper_a.py:3 in explode)")  # no offer under -v


def test_task_import_error_names_the_innermost_user_line(pack: Any, project: Any) -> None:
    root = project(
        {
            "taskhelper_b.py": """
            import json


            def parse():
                return json.loads("not json")
            """,
            "imports_mod.py": """
            from pack import task
            import taskhelper_b

            CONFIG = taskhelper_b.parse()
            """,
        }
    )
    wf = str(root / "imports_mod.py")
    for argv in (("run", wf, "main"), ("render", wf, "main"), ("run", wf)):
        r = pack(*argv)
        assert r.code == 2
        line = _one_error_line(r.err)
        # The innermost frame in the user's files, not json's decoder.
        assert line == (
            f"pack: error: {wf}:4: cannot import: JSONDecodeError: Expecting value: line 1 "
            "column 1 (char 0) (raised at taskhelper_b.py:5 in parse); -v shows the traceback"
        )
    r = pack("-v", "run", wf, "main")
    assert 'taskhelper_b.py", line 5, in parse' in r.err and "json/decoder.py" in r.err


def test_syntax_error_in_an_imported_file_names_its_line(pack: Any, project: Any) -> None:
    root = project(
        {
            "brokenhelper_c.py": "def f(:\n    pass\n",
            "syntax_mod.py": """
            from pack import task
            import brokenhelper_c
            """,
        }
    )
    wf = str(root / "syntax_mod.py")
    line = _one_error_line(pack("run", wf, "main").err)
    assert line.startswith(f"pack: error: {wf}:2: cannot import: SyntaxError: ")
    assert "(raised at brokenhelper_c.py:1)" in line


# good, weird (-> object), and a task with an unannotated parameter.
MIXED_TASKS = (
    MIXED
    + """

    @task
    def untyped(x) -> int:
        return x
"""
)


def test_one_bad_annotation_leaves_the_other_tasks_runnable(pack: Any, project: Any) -> None:
    wf = str(project({"mixed_mod.py": MIXED_TASKS}) / "mixed_mod.py")
    r = pack("run", "-o", "json", wf, "good", "--n", "21")
    assert r.code == 0, r.err
    assert r.json()["outputs"] == {"o0": 42}
    r = pack("render", wf, "good", "--n", "1")
    assert r.code == 0, r.err
    unsupported = "pack: error: task weird: return value: type object is not supported; use int"
    for argv in (("run", wf, "weird"), ("render", wf, "weird"), ("run", wf, "weird", "--help")):
        r = pack(*argv)
        assert r.code == 2
        assert _one_error_line(r.err).startswith(unsupported)
    r = pack("run", wf, "untyped", "--x", "1")
    assert r.code == 2
    assert r.err.startswith("pack: error: task untyped: parameter 'x' has no type hint\nhint: ")
    r = pack("run", wf)  # listing the tasks needs no interface
    assert r.code == 2 and "tasks in this file: good, untyped, weird" in r.err


def test_a_bad_annotation_does_not_stop_building_the_files_images(pack: Any, project: Any) -> None:
    source = MIXED_TASKS.replace(
        "from pack import task",
        'from pack import ImageSpec, task\n\n    image = ImageSpec(name="mixed")',
    )
    spec = str(project({"mixed_spec.py": source}) / "mixed_spec.py")
    r = pack("hash", "-o", "json", spec)
    assert r.code == 0, r.err
    assert [row["variable"] for row in r.json()] == ["image"]


ENV_TASKS = """
    import os

    from pack import task


    @task
    def env_names() -> list[str]:
        return sorted(os.environ)


    @task
    def env_value(name: str) -> str:
        return os.environ.get(name, "<unset>")
"""


def test_a_local_run_gets_a_pods_environment(
    pack: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-the-task")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    monkeypatch.setenv("LC_TIME", "C")
    wf = str(project({"envpod_mod.py": ENV_TASKS}) / "envpod_mod.py")
    r = pack("run", "-o", "json", wf, "env_names")
    assert r.code == 0, r.err
    names = set(r.json()["outputs"]["o0"])
    assert {"PATH", "HOME", "LC_TIME", "PACK_EXECUTION_ID", "PACK_ATTEMPT"} <= names
    assert not names & {"AWS_SECRET_ACCESS_KEY", "PACK_CACHE_DIR"}
    # Besides what the pod's env sets, only what a process needs to run at all.
    kept = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR"}
    # The renderer's PYTHONUNBUFFERED; pack-fast-execute's bundle path and timings.
    pod_set = {"PYTHONUNBUFFERED", "PYTHONPATH", "PACK_FETCH_TIMING"}
    extra = {n for n in names - kept - pod_set if not n.startswith(("LC_", "PACK_"))}
    assert extra == set()
    r = pack("run", "-o", "json", wf, "env_value", "--name", "PYTHONPATH")
    assert "/somewhere/else" not in r.json()["outputs"]["o0"]


def test_pass_env_works_on_the_local_backend(
    pack: Any, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cr3t-value")
    wf = str(project({"envpass_mod.py": ENV_TASKS}) / "envpass_mod.py")
    r = pack("run", "-o", "json", wf, "env_value", "--name", "MY_TOKEN")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == "<unset>"
    r = pack("run", "--pass-env", "MY_TOKEN", "-o", "json", wf, "env_value", "--name", "MY_TOKEN")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == "s3cr3t-value"
    assert "s3cr3t-value" not in r.err
    r = pack("run", "--pass-env", "NOT_SET_ANYWHERE", wf, "env_names")
    assert r.code == 2 and "--pass-env NOT_SET_ANYWHERE: not set in your environment" in r.err


def test_local_refuses_what_it_cannot_do_before_anything_is_written(
    pack: Any, project: Any, tmp_path: Path
) -> None:
    wf = str(project({"envcopy_mod.py": ENV_TASKS}) / "envcopy_mod.py")
    store = tmp_path / "store-none"
    r = pack("run", "--copy", "none", "--store", store.as_uri(), wf, "env_names")
    assert r.code == 2
    line = _one_error_line(r.err)
    assert line.startswith("pack: error: --copy none cannot work on the local backend: ")
    assert "not in the task's image" in line and "--copy auto" in line
    assert not store.exists()  # no bundle, inputs or run record
    r = pack("run", "--env-from-secret", "creds", wf, "env_names")
    assert r.code == 2 and "--env-from-secret needs --backend kubernetes" in r.err
    r = pack("run", "--detach", wf, "env_names")
    assert r.code == 2 and "--detach and --keep need --backend docker or kubernetes" in r.err


TRACED = {
    "tracehelper_mod.py": """
    import warnings
    from pathlib import Path


    def explode(n):
        warnings.warn("careful")
        raise ValueError(f"boom {n}")


    def read_missing():
        return (Path(__file__).parent / "missing.txt").read_text()
    """,
    "traced_mod.py": """
    from pack import task

    import tracehelper_mod


    @task
    def fails(n: int) -> int:
        return tracehelper_mod.explode(n)


    @task
    def reads() -> str:
        return tracehelper_mod.read_missing()


    @task
    def fine() -> int:
        return 1
    """,
}


def test_a_local_run_shows_tracebacks_in_the_users_files_and_the_bundle_that_ran(
    pack: Any, project: Any
) -> None:
    root = project(TRACED).resolve()
    wf = str(root / "traced_mod.py")
    r = pack("run", "-o", "json", wf, "fails", "--n", "7")
    assert r.code == 1
    doc = r.json()
    # The streamed log: every frame in the user's source tree, none in the extracted copy.
    assert f'File "{root}/traced_mod.py", line 8, in fails' in r.err
    assert f'File "{root}/tracehelper_mod.py", line 7, in explode' in r.err
    assert f"{root}/tracehelper_mod.py:6: UserWarning: careful" in r.err
    assert "/code/" not in r.err
    # The final line: one line (the log showed the traceback), naming the bundle that ran.
    bundle = doc["bundle"]["digest"].removeprefix("sha256:")[:12]
    last = r.err.strip().splitlines()[-1]
    assert last.startswith(
        f"pack: error: task traced_mod.fails failed (execution {doc['execution_id']}, "
        f"bundle {bundle}, attempt 1 of 1): ValueError: boom 7 (in the task's code; traceback above"
    )
    # The run's stored log is what was shown.
    logs = pack("logs", doc["execution_id"])
    assert f'File "{root}/tracehelper_mod.py", line 7, in explode' in logs.out

    # A message keeps the path the task really used (it is not in the source tree).
    r = pack("run", wf, "reads")
    assert r.code == 1
    assert f'File "{root}/tracehelper_mod.py", line 11, in read_missing' in r.err
    assert "/code/missing.txt'" in r.err and f"{root}/missing.txt" not in r.err

    r = pack("run", wf, "fine")
    assert r.code == 0, r.err
    assert f", bundle {bundle}, " in r.err.strip().splitlines()[-1]  # the same code ran


def test_env_only_kubernetes_resolves_is_refused_locally_not_dropped(
    pack: Any, project: Any
) -> None:
    root = project(
        {
            "envfrom_mod.py": ENV_TASKS,
            "cluster.yaml": """
            kind: PodTemplate
            template:
              spec:
                containers:
                - name: primary
                  env:
                  - name: DB_PASSWORD
                    valueFrom: {secretKeyRef: {name: db, key: password}}
            """,
        }
    )
    wf = str(root / "envfrom_mod.py")
    r = pack("run", "--pod-template", str(root / "cluster.yaml"), wf, "env_names")
    assert r.code == 1
    assert _one_error_line(r.err) == (
        "pack: error: env DB_PASSWORD comes from a Kubernetes source (valueFrom): the local "
        "backend cannot resolve it; set a plain value or pass the variables with --pass-env VAR"
    )
