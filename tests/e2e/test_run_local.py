"""`pack run` on the local backend, end to end (no servers)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pack.packager.store import read_url

PRIMITIVES = """
    import datetime as dt
    import enum
    from typing import Optional

    from pack import task


    class Color(enum.Enum):
        RED = "red"
        BLUE = "blue"


    @task
    def arith(i: int, f: float = 0.5, s: str = "x", b: bool = False) -> str:
        return f"{i * 2}|{f * 2}|{s.upper()}|{not b}"


    @task
    def shift(when: dt.datetime, by: dt.timedelta) -> dt.datetime:
        return when + by


    @task
    def stats(xs: list[float], weights: dict[str, int]) -> dict[str, float]:
        return {"sum": sum(xs), "w": float(sum(weights.values()))}


    @task
    def flip(c: Color, maybe: Optional[int] = None) -> Optional[Color]:
        if maybe is None:
            return None
        return Color.BLUE if c is Color.RED else Color.RED


    @task
    def blob(data: bytes) -> bytes:
        return data[::-1]
"""


def test_primitives_round_trip(pack: Any, project: Any) -> None:
    root = project({"prims_mod.py": PRIMITIVES})
    wf = str(root / "prims_mod.py")
    r = pack("run", "-o", "json", wf, "arith", "--i", "21", "--f", "1.25", "--s", "abc", "--b")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["outputs"] == {"o0": "42|2.5|ABC|False"}
    assert doc["status"] == "succeeded"

    r = pack(
        "run", "-o", "json", wf, "shift", "--when", "2024-05-01T10:00:00+00:00", "--by", "1h30m"
    )
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == "2024-05-01T11:30:00+00:00"

    r = pack(
        "run", "-o", "json", wf, "stats", "--xs", "[1.5, 2, 3]", "--weights", '{"a": 2, "b": 5}'
    )
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == {"sum": 6.5, "w": 7.0}

    r = pack("run", "-o", "json", wf, "flip", "--c", "red", "--maybe", "1")
    assert r.json()["outputs"]["o0"] == "blue"
    r = pack("run", "-o", "json", wf, "flip", "--c", "red")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] is None

    r = pack("run", wf, "blob", "--data", "abc")
    assert r.code == 0, r.err
    assert r.out.strip() == "b'cba'"


def test_dataclass_in_and_out_and_artifacts_in_store(pack: Any, project: Any) -> None:
    root = project(
        {
            "dc_mod.py": """
            from dataclasses import dataclass, field

            from pack import current_context, task


            @dataclass
            class Point:
                x: float
                y: float
                tags: list[str] = field(default_factory=list)


            @dataclass
            class Summary:
                norm2: float
                tags: list[str]
                origin: Point
                execution: str
                attempt: int


            @task
            def summarize(p: Point) -> Summary:
                ctx = current_context()
                return Summary(p.x**2 + p.y**2, sorted(p.tags), Point(0, 0), ctx.execution_id, ctx.attempt)
            """
        }
    )
    r = pack(
        "run",
        "-o",
        "json",
        str(root / "dc_mod.py"),
        "summarize",
        "--p",
        '{"x": 3, "y": 4, "tags": ["b", "a"]}',
    )
    assert r.code == 0, r.err
    doc = r.json()
    out = doc["outputs"]["o0"]
    assert out["norm2"] == 25.0 and out["tags"] == ["a", "b"]
    assert out["origin"] == {"x": 0.0, "y": 0.0, "tags": []}
    assert out["execution"] == doc["execution_id"] and out["attempt"] == 1
    run_prefix = doc["artifacts"]
    assert read_url(f"{run_prefix}/inputs.pb")
    assert read_url(f"{run_prefix}/attempts/1/outputs.pb")


def test_file_round_trip(pack: Any, project: Any, tmp_path: Path) -> None:
    root = project(
        {
            "files_mod.py": """
            from pack import File, task


            @task
            def shout(src: File) -> File:
                with src.open() as f:
                    text = f.read()
                out = File.new("loud.txt")
                with out.open("w") as f:
                    f.write(text.upper())
                return out
            """
        }
    )
    src = tmp_path / "in.txt"
    src.write_text("quiet words\n")
    r = pack("run", "-o", "json", str(root / "files_mod.py"), "shout", "--src", str(src))
    assert r.code == 0, r.err
    url = r.json()["outputs"]["o0"]
    assert url.startswith("file://") and url.endswith("/loud.txt")
    assert "/attempts/1/raw/" in url
    assert read_url(url) == b"QUIET WORDS\n"
    # A stored file can be passed to the next run by URL, never downloaded by the CLI.
    r = pack("run", str(root / "files_mod.py"), "shout", "--src", url)
    assert r.code == 0, r.err
    assert read_url(r.out.strip()) == b"QUIET WORDS\n"


def test_list_of_files_from_the_command_line(pack: Any, project: Any, tmp_path: Path) -> None:
    root = project(
        {
            "many_mod.py": """
            from pack import File, task


            @task
            def sizes(xs: list[File]) -> list[int]:
                return [len(x.path.read_bytes()) for x in xs]
            """
        }
    )
    (tmp_path / "a.txt").write_text("hello\n")
    (tmp_path / "b.txt").write_text("world!\n")
    wf = str(root / "many_mod.py")
    # Paths relative to the cwd (tmp_path), as a user types them; uploaded by the run.
    r = pack("run", "-o", "json", wf, "sizes", "--xs", '["a.txt", "b.txt"]')
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == [6, 7]
    # A missing one is refused before anything runs, naming the element and the path.
    r = pack("run", wf, "sizes", "--xs", '["a.txt", "missing.txt"]')
    assert r.code == 2
    assert "[1]" in r.err and "missing.txt" in r.err and "no such file" in r.err


ML_PROJECT = {
    "mlwf.py": """
    from pathlib import Path

    from mlhelpers import mean_of

    from pack import task

    DATA = Path(__file__).parent / "data" / "values.csv"


    @task
    def main(scale: int = 1) -> float:
        return mean_of(DATA) * scale
    """,
    "mlhelpers.py": """
    def mean_of(path):
        values = [float(line) for line in path.read_text().split()]
        return sum(values) / len(values)
    """,
    "data/values.csv": "1\n2\n6\n",
}


def test_sibling_module_and_asset_with_copy_all(pack: Any, project: Any) -> None:
    root = project(ML_PROJECT)
    r = pack("run", "--copy", "all", "-o", "json", str(root / "mlwf.py"), "main", "--scale", "3")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["outputs"]["o0"] == 9.0
    assert doc["bundle"]["files"] == 3


def test_copy_auto_leaves_the_asset_out(pack: Any, project: Any) -> None:
    root = project(ML_PROJECT)
    r = pack("run", "--copy", "auto", str(root / "mlwf.py"), "main")
    assert r.code == 1
    assert "FileNotFoundError" in r.err
    assert "values.csv" in r.err


def test_failing_task_shows_user_traceback_and_exit_code(pack: Any, project: Any) -> None:
    root = project(
        {
            "boom_mod.py": """
            from pack import task


            def inner(n):
                raise ValueError(f"boom {n}")


            @task
            def explode(n: int) -> int:
                return inner(n)
            """
        }
    )
    r = pack("run", str(root / "boom_mod.py"), "explode", "--n", "42")
    assert r.code == 1
    assert "pack: error: task boom_mod.explode failed" in r.err
    assert "ValueError: boom 42" in r.err
    assert 'boom_mod.py", line 5, in inner' in r.err
    assert "pack/launcher" not in r.err
    assert r.out == ""
    # The streamed log showed the traceback; the final error names the exception and
    # the error document instead of printing the traceback a second time.
    assert r.err.count("Traceback (most recent call last)") == 1
    last = r.err.rstrip().splitlines()[-1]
    assert last.startswith("pack: error: task boom_mod.explode failed")
    assert "attempt 1 of 1): ValueError: boom 42" in last
    assert last.endswith("/attempts/1/errors.pb)")


def test_wrong_return_type_is_one_line_naming_the_annotation(pack: Any, project: Any) -> None:
    root = project(
        {
            "ret_mod.py": """
            from pack import task


            @task
            def count(n: int) -> int:
                return str(n)
            """
        }
    )
    r = pack("run", str(root / "ret_mod.py"), "count", "--n", "7")
    assert r.code == 1
    wrong = (
        "TypeError: ret_mod.count returned a value that is not `-> int`: expected int, got str '7'"
    )
    assert r.err.count(wrong) == 2  # the attempt's log, then the final error line
    # No output name either (a run id may hold the letters "o0": whole words only).
    assert "Traceback" not in r.err and re.search(r"\bo0\b", r.err) is None
    last = r.err.rstrip().splitlines()[-1]
    assert "(in the task's code; error document file://" in last  # no "traceback above"
    assert last.endswith("/attempts/1/errors.pb)")


RETRY = """
    from pack import current_context, task
    from pack.launcher.errors import Recoverable


    @task(retries=2)
    def flaky(fail_until: int) -> int:
        attempt = current_context().attempt
        if attempt < fail_until:
            raise Recoverable(f"transient on attempt {attempt}")
        return attempt


    @task(retries=2)
    def broken() -> int:
        raise KeyError("not transient")
"""


def test_recoverable_failure_is_retried(pack: Any, project: Any) -> None:
    root = project({"retry_mod.py": RETRY})
    r = pack("run", "-o", "json", str(root / "retry_mod.py"), "flaky", "--fail-until", "3")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["outputs"]["o0"] == 3
    assert [a["phase"] for a in doc["attempts"]] == ["Failed", "Failed", "Succeeded"]
    assert doc["attempts"][0]["error"]["recoverable"] is True
    assert "retrying" in r.err

    assert "attempt 1 of 3 failed with Recoverable (recoverable); retrying" in r.err

    r = pack("run", "-o", "json", str(root / "retry_mod.py"), "flaky", "--fail-until", "9")
    assert r.code == 1
    assert len(r.json()["attempts"]) == 3  # 1 + retries, then it gives up
    assert "attempt 3 of 3): pack.launcher.errors.Recoverable: transient on attempt 3" in r.err
    assert "attempt 3 of 3 failed" not in r.err  # the last attempt announces no retry


def test_non_recoverable_failure_is_not_retried(pack: Any, project: Any) -> None:
    root = project({"retry_mod2.py": RETRY})
    r = pack("run", "-o", "json", str(root / "retry_mod2.py"), "broken")
    assert r.code == 1
    doc = r.json()
    assert len(doc["attempts"]) == 1
    assert doc["attempts"][0]["error"]["code"] == "KeyError"
    assert doc["attempts"][0]["error"]["user"] is True
    bundle = doc["bundle"]["digest"].removeprefix("sha256:")[:12]
    assert (
        f"(execution {doc['execution_id']}, bundle {bundle}, attempt 1 of 3; not retried)" in r.err
    )
    assert "retrying" not in r.err


def test_bad_cli_values_are_refused_naming_the_parameter(pack: Any, project: Any) -> None:
    root = project({"prims_bad.py": PRIMITIVES})
    wf = str(root / "prims_bad.py")
    r = pack("run", wf, "arith", "--i", "many")
    assert r.code == 2 and "'--i'" in r.err and "many" in r.err
    r = pack("run", wf, "arith")
    assert r.code == 2 and "--i" in r.err
    r = pack("run", wf, "stats", "--xs", "[1, 'a']", "--weights", "{}")
    assert r.code == 2 and "--xs" in r.err
    r = pack("run", wf, "stats", "--xs", '["a"]', "--weights", "{}")
    assert r.code == 2 and "--xs" in r.err
    r = pack("run", wf, "flip", "--c", "green")
    assert r.code == 2 and "--c" in r.err
    r = pack("run", wf, "nope")
    assert r.code == 2 and "arith" in r.err  # lists the tasks that exist


def test_help_lists_task_options(pack: Any, project: Any) -> None:
    root = project({"prims_help.py": PRIMITIVES})
    r = pack("run", str(root / "prims_help.py"), "arith", "--help")
    assert r.code == 0
    for option in ("--i", "--f", "--s", "--b / --no-b"):
        assert option in r.out


def test_render_prints_a_valid_pod(pack: Any, project: Any) -> None:
    import kubernetes_validate
    import yaml

    root = project(ML_PROJECT)
    r = pack("render", "--copy", "all", str(root / "mlwf.py"), "main", "--scale", "2")
    assert r.code == 0, r.err
    pod = yaml.safe_load(r.out)
    kubernetes_validate.validate(pod, "1.28.0", strict=True)
    args = pod["spec"]["containers"][0]["args"]
    assert args[0] == "pack-fast-execute" and "pack-execute" in args
    assert args[-4:] == ["task-module", "mlwf", "task-name", "main"]


def test_readme_example_runs_with_nothing_configured(pack: Any) -> None:
    wf = Path(__file__).resolve().parents[2] / "examples" / "ml" / "wf.py"
    r = pack("run", "--copy", "all", "-o", "json", str(wf), "main", "--x", "3")
    assert r.code == 0, r.err
    out = r.json()["outputs"]["o0"]
    assert out["folds"] == 3 and len(out["rmse_per_fold"]) == 3 and out["rows"] > 0
    assert r.json()["artifacts"].startswith("file://")


def test_local_run_and_render_never_import_the_kubernetes_client(project: Any) -> None:
    """`kubernetes` costs ~0.5 s to import: the local path renders the pod as a dict.
    decimal and concurrent.futures (~8 ms) are imported only where they are used."""
    import os
    import subprocess
    import sys

    root = project(ML_PROJECT)
    wf = str(root / "mlwf.py")
    code = (
        "import sys\n"
        "from pack.cli import main\n"
        "for argv in (\n"
        f"    ['run', '--copy', 'all', '-o', 'json', {wf!r}, 'main', '--scale', '2'],\n"
        f"    ['render', '--copy', 'all', {wf!r}, 'main'],\n"
        "):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, (argv, exc.code)\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'))\n"
        "print('LAZY', sorted(m for m in ('decimal', 'concurrent.futures') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PACK_BACKEND", "PACK_POD_TEMPLATE")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    assert '"o0": 6.0' in out.stdout  # the run did run: mean 3.0 scaled by 2
    assert "pack-fast-execute" in out.stdout  # and the pod was rendered
    assert "LOADED []" in out.stdout
    # Nor what only the docker backend (quantities) and readers of run trees need.
    assert "LAZY []" in out.stdout


MULTI = """
    from typing import NamedTuple

    from pack import task


    class Stats(NamedTuple):
        mean: float
        label: str


    @task
    def pair(n: int) -> tuple[int, str]:
        return n * 2, f"n={n}"


    @task
    def stats(n: int) -> Stats:
        return Stats(mean=n / 2, label="half")


    @task
    def short(n: int) -> tuple[int, str]:
        return (n,)
"""


def test_multiple_outputs_travel_as_separate_literals(pack: Any, project: Any) -> None:
    from flyteidl.core.literals_pb2 import LiteralMap

    root = project({"multi_mod.py": MULTI})
    wf = str(root / "multi_mod.py")
    r = pack("run", "-o", "json", wf, "pair", "--n", "4")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["outputs"] == {"o0": 8, "o1": "n=4"}
    outputs = read_url(doc["artifacts"] + "/attempts/1/outputs.pb")
    literals = LiteralMap.FromString(outputs).literals
    assert sorted(literals) == ["o0", "o1"]
    assert literals["o0"].scalar.primitive.integer == 8

    r = pack("run", wf, "stats", "--n", "3")
    assert r.code == 0, r.err
    assert r.out.splitlines() == ["mean: 1.5", "label: half"]

    r = pack("run", wf, "short", "--n", "3")
    assert r.code == 1
    assert (
        "multi_mod.short returned a value that is not `-> tuple[int, str]`: "
        "expected 2 values, got a tuple of 1" in r.err
    )


SAYS_DONE = """
    import atexit
    import sys
    import threading
    import time

    from pack import task


    @task(env={"PACK_SAY_DONE": "0123456789abcdef"})
    def finishes(x: int) -> int:
        import os

        # Taken out of the env before the task runs: no process of the task can say it.
        assert "PACK_SAY_DONE" not in os.environ

        def late() -> None:
            time.sleep(0.3)
            print("thread done", flush=True)

        threading.Thread(target=late).start()
        atexit.register(lambda: print("task exit handler", file=sys.stderr, flush=True))
        return x + 1


    @task(env={"PACK_SAY_DONE": "0123456789abcdef"})
    def fails(x: int) -> int:
        raise ValueError("no")
"""


def test_pack_execute_says_done_last_and_only_on_success(pack: Any, project: Any) -> None:
    """The kubernetes backend ends an attempt on this line (with outputs.pb there): it
    comes after the task's threads were joined and its exit handlers ran, and only when
    the task succeeded."""
    from pack.launcher.entrypoint import DONE_LINE

    root = project({"says_done.py": SAYS_DONE})
    r = pack("run", str(root / "says_done.py"), "finishes", "--x", "1")
    assert r.code == 0, r.err
    lines = [line for line in r.err.splitlines() if not line.startswith("pack: ")]
    closing = f"{DONE_LINE} 0123456789abcdef"
    assert lines[-3:] == ["thread done", "task exit handler", closing], r.err
    r = pack("run", str(root / "says_done.py"), "fails", "--x", "1")
    assert r.code != 0
    assert DONE_LINE not in r.err


CALLS = """
    from pack import task


    @task
    def double(x: int) -> int:
        return 2 * x


    @task
    def plain(x: int) -> int:
        return x + 1


    @task
    def caller(x: int) -> int:
        return double(x=x) + 1
"""


def test_an_attempt_says_whether_it_called_tasks_and_only_then_are_calls_listed(
    pack: Any, project: Any
) -> None:
    """timings.json's `made_calls` spares a run without calls the listing of its calls."""
    import json

    from pack.packager.store import read_url

    root = project({"calls.py": CALLS})
    for name, made, children in (("plain", 0.0, 0), ("caller", 1.0, 1)):
        r = pack("run", "-o", "json", str(root / "calls.py"), name, "--x", "2")
        assert r.code == 0, r.err
        doc = json.loads(r.out)
        marks = json.loads(read_url(doc["artifacts"] + "/attempts/1/timings.json"))
        assert marks["made_calls"] == made
        assert len(doc["children"]) == children
