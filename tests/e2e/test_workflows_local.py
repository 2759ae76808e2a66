"""Workflows on the local backend: the driver in the client, each task call a process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pack.packager.store import read_url

WORKFLOWS = """
    import asyncio
    import json
    import os
    import time
    from pathlib import Path
    from typing import NamedTuple

    from pack import Directory, File, current_context, map_task, task, workflow

    MARKS = Path(os.environ["WF_MARKS"])


    class Stats(NamedTuple):
        total: int
        label: str


    def mark(name: str) -> None:
        # Each call leaves a file: which process ran what, and when.
        ctx = current_context()
        (MARKS / f"{name}-{ctx.execution_id}.json").write_text(
            json.dumps({"pid": os.getpid(), "at": time.time(), "ctx": ctx.execution_id})
        )


    @task
    def square(x: int) -> int:
        mark(f"square{x}")
        if x == 13:
            raise ValueError(f"cannot handle {x}")
        return x * x


    @task
    def split(n: int) -> tuple[int, str]:
        return n + 1, f"n={n}"


    @task(cache=True, cache_version="1")
    def slow_add(a: int, b: int) -> int:
        mark("slow_add")
        return a + b


    @task(cache=True, cache_version="1")
    def count_lines(data: File) -> int:
        mark("count_lines")
        return len(data.open().read().splitlines())


    @task(cache=True, cache_version="1")
    def count_files(d: Directory) -> int:
        mark("count_files")
        return len(d.files())


    @task
    def write(text: str) -> File:
        out = File.new("out.txt")
        with open(out, "w") as f:
            f.write(text)
        return out


    @task
    def read(f: File) -> str:
        return f"{f.uri}|{f.open().read()}"


    @task
    def nap(i: int, seconds: float) -> int:
        start = time.time()
        time.sleep(seconds)
        (MARKS / f"nap{i}.json").write_text(json.dumps([start, time.time()]))
        return i


    @workflow
    def main(n: int = 3) -> Stats:
        squares = map_task(square)(x=list(range(n)))
        plus, label = split(n=sum(squares))
        return Stats(slow_add(plus, 100), label)


    @workflow
    def fails() -> list[int]:
        return map_task(square)(x=[1, 13, 2])


    @workflow
    def tolerant() -> list[int | None]:
        return map_task(square, min_success_ratio=0.5)(x=[1, 13, 2])


    @workflow
    def caught() -> str:
        try:
            square(x=13)
        except Exception as exc:  # a child's failure is an exception like any other
            return f"caught {type(exc).__name__}: {exc}"
        return "not raised"


    @workflow
    async def fan(n: int = 4) -> list[int]:
        return list(await asyncio.gather(*(square(x=i) for i in range(n))))


    @workflow
    def handoff(text: str) -> str:
        f = write(text=text)
        assert f.uri is not None and not os.path.exists(str(f.uri))  # still in the store
        return f"{f.uri}>>{read(f=f)}"


    @workflow
    def limited(n: int = 4) -> list[int]:
        return map_task(nap, concurrency=2)(i=list(range(n)), seconds=1.0)


    @workflow
    async def twins() -> list[int]:
        return list(await asyncio.gather(slow_add(a=1, b=2), slow_add(a=1, b=2)))


    @task
    def outer(x: int) -> int:
        # A task that calls a task: its own process drives the call.
        return square(x=x) + 1


    @task(env={"WHO": "task"})
    def who() -> str:
        return os.environ.get("WHO", "unset")


    @workflow(env={"WHO": "workflow"})
    def whose() -> str:
        # Its body sees its own env, as its pod would; the task it calls sees the task's.
        return os.environ.get("WHO", "unset") + "/" + who()


    @task
    def timeout_seen() -> str:
        return os.environ.get("PACK_NETWORK_TIMEOUT", "unset")


    @task
    def timeouts_seen() -> tuple[str, str]:
        # What this task's process and the task it calls were told (a task drives its call).
        return os.environ.get("PACK_NETWORK_TIMEOUT", "unset"), timeout_seen()


    @task
    def twice(x: int) -> int:
        # A task calling a task that calls a task: a tree two levels deep.
        return outer(x=x) + outer(x=x + 1)


    from pack import ShellTask

    count = ShellTask(
        name="count",
        script='wc -l < "{inputs.data}" | tr -d " " > {outputs.lines}; cp "{inputs.data}" {outputs.copy}',
        inputs={"data": File},
        outputs={"lines": int, "copy": File},
    )
    broken = ShellTask(name="broken", script="echo about to fail; exit 3", inputs={"x": int})


    @workflow
    def shell_pipeline(text: str) -> tuple[int, str]:
        lines, copy = count(data=write(text=text))
        return lines, read(f=copy).partition("|")[2]
"""


# The local backend gives tasks a pod's environment: the marks folder is passed by name.
PASS = ("--pass-env", "WF_MARKS")


def setup(project: Any, monkeypatch: Any, tmp_path: Path) -> tuple[str, Path]:
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("WF_MARKS", str(marks))
    root = project({"wfmod.py": WORKFLOWS})
    return str(root / "wfmod.py"), marks


def marks_of(marks: Path, prefix: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(marks.glob(f"{prefix}-*.json"))]


def test_workflow_runs_each_call_in_its_own_process_and_unpacks_outputs(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    import os

    wf, marks = setup(project, monkeypatch, tmp_path)
    r = pack("run", *PASS, "--copy", "all", "-o", "json", wf, "main", "--n", "3")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["outputs"] == {"total": 106, "label": "n=5"}  # 0+1+4=5, 6+100
    children = doc["children"]
    assert [(c["task"], c["index"]) for c in children] == [
        ("wfmod.square", 0),
        ("wfmod.square", 1),
        ("wfmod.square", 2),
        ("wfmod.split", None),
        ("wfmod.slow_add", None),
    ]
    assert {c["status"] for c in children} == {"succeeded"}
    assert {c["parent"] for c in children} == {doc["execution_id"]}
    pids = {m["pid"] for m in marks_of(marks, "square0") + marks_of(marks, "square1")}
    assert len(pids) == 2 and os.getpid() not in pids  # two processes, neither this one
    # Each child is a run with its own record, artifacts and log; the tree is in the store.
    from pack.runs.runstore import RunStore

    runs = RunStore.open(doc["artifacts"].rsplit("/runs/", 1)[0])
    tree = runs.tree(doc["execution_id"])
    assert tree.record.kind == "workflow"
    assert [c.record.id for c in tree.children] == [c["id"] for c in children]
    split = runs.get(children[3]["id"])
    assert split.parent == doc["execution_id"] and split.attempts[0].status == "succeeded"
    assert read_url(f"{doc['artifacts'].rsplit('/', 1)[0]}/{split.id}/inputs.pb")


def test_a_cached_call_starts_nothing_the_second_time(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, marks = setup(project, monkeypatch, tmp_path)
    first = pack("run", *PASS, "-o", "json", wf, "main", "--n", "1")
    assert first.code == 0, first.err
    assert first.json()["children"][-1]["cache"] == "miss"
    assert len(marks_of(marks, "slow_add")) == 1

    second = pack("run", *PASS, wf, "main", "--n", "1")
    assert second.code == 0, second.err
    assert "pack: 3 task calls: 2 ran, 1 cache hit" in second.err
    assert len(marks_of(marks, "slow_add")) == 1  # no process ran it

    # A cached task run on its own is looked up the same way.
    alone = pack("run", *PASS, "-o", "json", wf, "slow_add", "--a", "1", "--b", "100")
    assert alone.code == 0, alone.err
    assert alone.json()["cache"]["status"] == "hit" and alone.json()["outputs"]["o0"] == 101
    r = pack("run", *PASS, wf, "slow_add", "--a", "1", "--b", "100")
    assert r.out.strip() == "101" and "cache hit" in r.err and "no pod was started" in r.err
    assert len(marks_of(marks, "slow_add")) == 1

    r = pack("run", *PASS, "--no-cache", "-o", "json", wf, "slow_add", "--a", "1", "--b", "100")
    assert r.code == 0, r.err
    assert r.json()["cache"] is None
    assert len(marks_of(marks, "slow_add")) == 2

    r = pack(
        "run", *PASS, "--overwrite-cache", "-o", "json", wf, "slow_add", "--a", "1", "--b", "100"
    )
    assert r.code == 0, r.err
    assert r.json()["cache"]["status"] == "miss"
    assert len(marks_of(marks, "slow_add")) == 3

    both = pack("run", *PASS, "--no-cache", "--overwrite-cache", wf, "main")
    assert both.code == 2 and "exclude each other" in both.err


def test_concurrent_identical_cached_calls_run_once(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, marks = setup(project, monkeypatch, tmp_path)
    r = pack("run", *PASS, "-o", "json", wf, "twins")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == [3, 3]
    assert len(marks_of(marks, "slow_add")) == 1
    assert sorted(c["cache"] for c in r.json()["children"]) == ["miss", "shared"]
    assert {c["status"] for c in r.json()["children"]} == {"succeeded"}


def test_a_failing_element_fails_the_workflow_with_its_message(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, _ = setup(project, monkeypatch, tmp_path)
    r = pack("run", *PASS, wf, "fails")
    assert r.code == 1
    last = r.err.rstrip().splitlines()[-1]
    assert "square[1] failed: ValueError: cannot handle 13" in last
    assert "1 of 3 elements failed; min_success_ratio=1 needs 3 to succeed" in last
    assert "no running event loop" not in r.err
    assert "3 task calls: 2 ran, 1 failed" in r.err


def test_min_success_ratio_returns_none_for_failed_elements(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, _ = setup(project, monkeypatch, tmp_path)
    r = pack("run", *PASS, "-o", "json", wf, "tolerant")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == [1, None, 4]


def test_a_childs_failure_can_be_caught(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, _ = setup(project, monkeypatch, tmp_path)
    r = pack("run", *PASS, wf, "caught")
    assert r.code == 0, r.err
    assert r.out.startswith("caught ChildFailed: square failed: ValueError: cannot handle 13")


def test_async_workflow_gathers_calls_in_parallel(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, marks = setup(project, monkeypatch, tmp_path)
    r = pack("run", *PASS, "-o", "json", wf, "fan", "--n", "3")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == [0, 1, 4]
    assert len(r.json()["children"]) == 3


def test_files_pass_between_tasks_by_reference(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, _ = setup(project, monkeypatch, tmp_path)
    r = pack("run", *PASS, "-o", "json", wf, "handoff", "--text", "hello")
    assert r.code == 0, r.err
    produced, _, received = r.json()["outputs"]["o0"].partition(">>")
    uri, _, content = received.partition("|")
    assert content == "hello"
    assert uri == produced  # the reader got the writer's store URL, not a copy


def test_map_concurrency_caps_elements_in_flight(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, marks = setup(project, monkeypatch, tmp_path)
    r = pack("run", *PASS, "-o", "json", wf, "limited", "--n", "3")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == [0, 1, 2]
    spans = [json.loads((marks / f"nap{i}.json").read_text()) for i in range(3)]
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert overlap <= 2


def test_a_task_that_calls_a_task_drives_it_from_its_own_process(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, marks = setup(project, monkeypatch, tmp_path)
    r = pack("run", *PASS, "-o", "json", wf, "outer", "--x", "5")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["outputs"]["o0"] == 26
    (child,) = doc["children"]
    assert child["task"] == "wfmod.square" and child["parent"] == doc["execution_id"]
    (run,) = marks_of(marks, "square5")
    assert run["ctx"] == child["id"]


def test_the_tree_of_a_task_that_calls_tasks_in_status_and_the_console(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, _ = setup(project, monkeypatch, tmp_path)
    store = (tmp_path / "calls").as_uri()
    r = pack("run", *PASS, "--store", store, "-o", "json", wf, "twice", "--x", "2")
    assert r.code == 0, r.err
    run_id = r.json()["execution_id"]
    assert r.json()["outputs"]["o0"] == (4 + 1) + (9 + 1)

    doc = pack("status", "-o", "json", run_id, "--store", store).json()
    calls = doc["children"]
    assert [(c["task"], c["parent"]) for c in calls] == [("wfmod.outer", run_id)] * 2
    inner = [(g["task"], g["parent"]) for c in calls for g in c["children"]]
    assert inner == [("wfmod.square", calls[0]["id"]), ("wfmod.square", calls[1]["id"])]
    # `pack run -o json` nests the same tree as `pack status -o json`.
    ran = r.json()["children"]
    assert [[g["id"] for g in c["children"]] for c in ran] == [
        [g["id"] for g in c["children"]] for c in calls
    ]
    assert all(len(c["children"]) == 1 for c in ran)
    text = pack("status", run_id, "--store", store).out
    assert "  children: 2\n" in text
    first, second = calls[0]["id"], calls[1]["id"]
    assert f"    ├─ wfmod.outer {first}: succeeded" in text
    assert f"    │  └─ wfmod.square {calls[0]['children'][0]['id']}: succeeded" in text
    assert f"    └─ wfmod.outer {second}: succeeded" in text
    assert f"       └─ wfmod.square {calls[1]['children'][0]['id']}: succeeded" in text

    pytest.importorskip("starlette", reason="the console needs pack[ui]")
    from starlette.testclient import TestClient

    from pack.ui.app import Settings, create_app

    console = TestClient(create_app(Settings(store)), base_url="http://127.0.0.1:8765")
    page = console.get(f"/runs/{run_id}").text
    children = page[page.index('<div id="children">') :]
    shown = re.findall(r'data-child="([a-z0-9]+)"', children)
    assert shown == [first, calls[0]["children"][0]["id"], second, calls[1]["children"][0]["id"]]
    assert "4 succeeded" in page


def test_an_attached_workflows_body_sees_its_env(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    import os

    wf, _ = setup(project, monkeypatch, tmp_path)
    monkeypatch.delenv("WHO", raising=False)
    r = pack("run", *PASS, "-o", "json", wf, "whose")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == "workflow/task"
    assert "WHO" not in os.environ  # the client's own environment is as it was


def test_network_timeout_reaches_the_tasks_a_task_calls(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, _ = setup(project, monkeypatch, tmp_path)
    monkeypatch.setenv("PACK_NETWORK_TIMEOUT", "7.5")
    r = pack("run", *PASS, "-o", "json", wf, "timeouts_seen")
    assert r.code == 0, r.err
    assert r.json()["outputs"] == {"o0": "7.5", "o1": "7.5"}


def test_shell_task_alone_and_in_a_workflow(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, _ = setup(project, monkeypatch, tmp_path)
    data = tmp_path / "three.txt"
    data.write_text("a\nb\nc\n")
    r = pack("run", *PASS, "-o", "json", wf, "count", "--data", str(data))
    assert r.code == 0, r.err
    outputs = r.json()["outputs"]
    assert outputs["lines"] == 3 and outputs["copy"].endswith("/copy")

    r = pack("run", *PASS, wf, "shell_pipeline", "--text", "x\ny\n")
    assert r.code == 0, r.err
    assert r.out.splitlines()[:3] == ["o0: 2", "o1: x", "y"]

    r = pack("run", *PASS, wf, "broken", "--x", "1")
    assert r.code == 1
    assert "ShellTask broken: the script exited with code 3 (last output: about to fail)" in r.err


def test_workflow_example_runs_with_nothing_configured(pack: Any) -> None:
    wf = Path(__file__).resolve().parents[2] / "examples" / "workflows" / "wf.py"
    first = pack("run", "--copy", "all", "-o", "json", str(wf), "main", "--folds", "3")
    assert first.code == 0, first.err
    mean, best = first.json()["outputs"]["o0"], first.json()["outputs"]["o1"]
    assert 0.5 < mean < 1.5 and best in (0, 1, 2)  # noise of sd 1 around y = 3x
    again = pack("run", "--copy", "all", "-o", "json", str(wf), "main", "--folds", "3")
    caches = {c["task"]: c["cache"] for c in again.json()["children"] if c["index"] is None}
    assert caches == {"wf.prepare": "hit", "wf.summarize": None}


def test_a_local_file_passed_in_hits_the_cache_and_is_uploaded_once(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    import hashlib
    from urllib.parse import urlparse

    from pack.runs.literals import blobs_in

    wf, marks = setup(project, monkeypatch, tmp_path)
    data = tmp_path / "rows.txt"
    data.write_text("a\nb\nc\n")

    def run() -> dict[str, Any]:
        r = pack("run", *PASS, "-o", "json", wf, "count_lines", "--data", str(data))
        assert r.code == 0, r.err
        doc: dict[str, Any] = r.json()
        return doc

    def input_url(doc: dict[str, Any]) -> str:
        (blob,) = blobs_in(read_url(f"{doc['artifacts']}/inputs.pb"))
        return blob.uri

    first = run()
    assert first["cache"]["status"] == "miss" and first["outputs"]["o0"] == 3
    url = input_url(first)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    assert url.endswith(f"/files/{digest}/rows.txt")
    stored = Path(urlparse(url).path)
    stamp = (stored.stat().st_ino, stored.stat().st_mtime_ns)
    store_root = stored.parents[2]

    def uploaded() -> set[Path]:
        # Everything a run can write for its inputs: stored files and its inputs-raw folder.
        return {p for p in store_root.rglob("*") if p.is_file() and "files" in p.parts} | {
            p for p in store_root.rglob("inputs-raw/**/*") if p.is_file()
        }

    before = uploaded()
    second = run()
    assert second["cache"]["status"] == "hit" and second["outputs"]["o0"] == 3
    assert len(marks_of(marks, "count_lines")) == 1  # no process ran it
    assert input_url(second) == url  # the first run's object, by the same URL
    assert (stored.stat().st_ino, stored.stat().st_mtime_ns) == stamp  # not written again
    assert uploaded() == before  # nothing else was uploaded either

    data.write_text("a\nb\n")  # other bytes: another object, a miss
    third = run()
    assert third["cache"]["status"] == "miss" and third["outputs"]["o0"] == 2
    assert input_url(third) != url and len(marks_of(marks, "count_lines")) == 2


def test_a_local_directory_passed_in_hits_the_cache(
    pack: Any, project: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    wf, marks = setup(project, monkeypatch, tmp_path)
    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")

    def run() -> dict[str, Any]:
        r = pack("run", *PASS, "-o", "json", wf, "count_files", "--d", str(folder))
        assert r.code == 0, r.err
        doc: dict[str, Any] = r.json()
        return doc

    assert run()["cache"]["status"] == "miss"
    second = run()
    assert second["cache"]["status"] == "hit" and second["outputs"]["o0"] == 2
    assert len(marks_of(marks, "count_files")) == 1
    (folder / "c.txt").write_text("c")
    third = run()
    assert third["cache"]["status"] == "miss" and third["outputs"]["o0"] == 3
