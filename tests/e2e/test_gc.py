"""`pack gc` through the CLI on a real file:// store: a dry run changes nothing; --delete
removes old runs (with children, logs, index entries, cache folders), old bundles and
image-record entries, and never what a kept run refers to."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from pack.imagespec.record import ImageRecord
from pack.runs import keys
from pack.runs.runstore import RunStore, new_record

DAY = 86_400.0

V1 = """
    from pack import File, task

    VERSION = {version}


    @task
    def double(x: int) -> int:
        return 2 * x


    @task
    def make_file(text: str) -> File:
        out = File.new("made.txt")
        with open(out, "w") as f:
            f.write(text)
        return out


    @task
    def read_file(f: File) -> str:
        with f.open() as fh:
            return fh.read().upper()
"""


def age(runs: RunStore, run_id: str, days: float) -> None:
    """Make a run look `days` old: its record's times, and its index entry moved with them."""
    record = runs.get(run_id)
    old = time.time() - days * DAY
    runs.store.delete(keys.index_key(record.created_at, run_id))
    runs.put(dataclasses.replace(record, created_at=old, updated_at=old))


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_gc_dry_run_then_delete(pack: Any, project: Any, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    store = store_dir.as_uri()
    cache = Path(os.environ["PACK_CACHE_DIR"])
    root = project({"wf.py": V1.format(version=1)})
    wf = str(root / "wf.py")

    def run(*args: str) -> dict[str, Any]:
        r = pack("run", "--copy", "all", "--store", store, "-o", "json", wf, *args)
        assert r.code == 0, r.err
        return r.json()  # type: ignore[no-any-return]

    old_run = run("double", "--x", "1")  # bundle 1
    project({"wf.py": V1.format(version=2)})
    source = run("make_file", "--text", "hi")  # bundle 2, old but its File is used below
    user = run("read_file", "--f", source["outputs"]["o0"])  # bundle 2, new
    assert user["outputs"]["o0"] == "HI"
    bundle1 = store_dir / "bundles" / f"{old_run['bundle']['digest'].split(':')[1]}.tar.zst"
    bundle2 = store_dir / "bundles" / f"{user['bundle']['digest'].split(':')[1]}.tar.zst"
    assert bundle1.is_file() and bundle2.is_file() and bundle1 != bundle2

    runs = RunStore.open(store)
    age(runs, old_run["execution_id"], 30)
    age(runs, source["execution_id"], 30)
    month_ago = time.time() - 30 * DAY
    for bundle in (bundle1, bundle2):
        os.utime(bundle, (month_ago, month_ago))
    # An old workflow tree, and an old run still going, through the records API.
    tree_root = new_record("rgcwf", task="wf.flow", backend="local", now=month_ago, kind="workflow")
    runs.put(
        tree_root.attempt_started(1, name=None, now=month_ago).finished("succeeded", now=month_ago)
    )
    for i in range(2):
        child = new_record(
            f"rgcwfc{i}", task="wf.double", backend="local", now=month_ago, parent="rgcwf", index=i
        )
        runs.put(
            child.attempt_started(1, name=None, now=month_ago).finished("failed", now=month_ago)
        )
        runs.put_log(f"rgcwfc{i}", 1, "child log\n")
    going = new_record("rgcgoing", task="wf.double", backend="kubernetes", now=month_ago)
    runs.put(going.attempt_started(1, name="double-rgcgoing-1", now=month_ago))
    image_record = ImageRecord.in_cache(cache, 3600)
    image_record.clock = lambda: month_ago  # type: ignore[method-assign]
    image_record.remember("127.0.0.1:5000/old/unused:1", "sha256:" + "1" * 64, None)
    image_record.remember(user["image"], "sha256:" + "2" * 64, None)  # a kept run's image
    assert (cache / "runs" / old_run["execution_id"] / "connection.json").is_file()

    before = files(store_dir)
    dry = pack("gc", "--older-than", "7d", "--store", store, "-o", "json")
    assert dry.code == 0, dry.err
    plan = dry.json()
    assert files(store_dir) == before  # a dry run deletes nothing
    assert plan["dry_run"] is True
    deleted = {r["id"] for r in plan["runs"]["delete"]}
    assert deleted == {old_run["execution_id"], "rgcwf", "rgcwfc0", "rgcwfc1"}
    kept = {r["id"]: r["why"] for r in plan["runs"]["keep"]}
    assert (
        kept[source["execution_id"]] == f"its outputs are inputs of kept run {user['execution_id']}"
    )
    assert "still going" in kept["rgcgoing"]
    assert plan["bundles"]["delete"] == [f"bundles/{bundle1.name}"]
    assert plan["bundles"]["keep"][f"bundles/{bundle2.name}"] == "a kept run was made from it"
    assert plan["image_records"] == ["127.0.0.1:5000/old/unused:1"]
    text = pack("gc", "--older-than", "7d", "--store", store)
    assert "would delete 4" in text.out and "add --delete" in text.err

    done = pack("gc", "--older-than", "7d", "--store", store, "--delete", "-o", "json")
    assert done.code == 0, done.err
    left = files(store_dir)
    for run_id in deleted:
        assert not any(k.startswith(f"runs/{run_id}/") for k in left), run_id
        assert not any(k.endswith(f"-{run_id}.json") for k in left), run_id
    assert not bundle1.exists() and bundle2.is_file()
    assert not (cache / "runs" / old_run["execution_id"]).exists()
    assert set(ImageRecord.in_cache(cache, 3600).entries()) == {user["image"]}
    listed = [r["id"] for r in pack("runs", "-o", "json", "--store", store).json()]
    assert sorted(listed) == sorted([user["execution_id"], source["execution_id"], "rgcgoing"])
    # What was kept still works: the File a kept run used, and a rerun of the old code.
    assert (
        pack("outputs", "-o", "json", source["execution_id"]).json()["o0"]
        == source["outputs"]["o0"]
    )
    assert pack("logs", "rgcwfc0", "--store", store).code == 2  # gone, with its log
    project({"wf.py": V1.format(version=1)})
    again = run("double", "--x", "5")
    assert again["outputs"]["o0"] == 10 and again["bundle"]["uploaded"] is True
    second = pack("gc", "--older-than", "7d", "--store", store, "-o", "json").json()
    assert second["runs"]["delete"] == [] and second["bundles"]["delete"] == []


def test_gc_refuses_a_bad_age(pack: Any) -> None:
    r = pack("gc", "--older-than", "week")
    assert r.code == 2
    assert r.err.strip().startswith("pack: error: --older-than 'week' is not an age")
    assert len(r.err.strip().splitlines()) == 1


def test_a_detached_run_that_ended_unseen_is_collected(pack: Any, tmp_path: Path) -> None:
    """Its record still says running; its outputs.pb says it ended a month ago."""
    from flyteidl.core.literals_pb2 import LiteralMap

    store = (tmp_path / "store").as_uri()
    runs = RunStore.open(store)
    month_ago = time.time() - 30 * DAY
    record = new_record(
        "rgcdetached", task="wf.t", backend="kubernetes", now=month_ago, detached=True
    )
    runs.put(record.attempt_started(1, name="t-rgcdetached-1", now=month_ago))
    runs.store.put_bytes(
        keys.attempt_key("rgcdetached", 1, "outputs.pb"), LiteralMap().SerializeToString()
    )
    os.utime(
        tmp_path / "store" / keys.attempt_key("rgcdetached", 1, "outputs.pb"),
        (month_ago, month_ago),
    )
    dry = pack("gc", "--older-than", "7d", "--store", store, "-o", "json").json()
    assert runs.get("rgcdetached").status == "running"  # the dry run wrote nothing
    # Settled by when its outputs.pb was written, not when gc noticed.
    assert [r["id"] for r in dry["runs"]["delete"]] == ["rgcdetached"]


def test_a_stored_input_file_goes_with_the_last_run_that_names_it(
    pack: Any, project: Any, tmp_path: Path
) -> None:
    store_dir = tmp_path / "store"
    store = store_dir.as_uri()
    wf = str(project({"wf.py": V1.format(version=1)}) / "wf.py")
    reused, dropped = tmp_path / "reused.txt", tmp_path / "dropped.txt"
    reused.write_text("kept\n")
    dropped.write_text("gone\n")

    def run(path: Path) -> dict[str, Any]:
        r = pack("run", "--store", store, "-o", "json", wf, "read_file", "--f", str(path))
        assert r.code == 0, r.err
        return r.json()  # type: ignore[no-any-return]

    old_runs = [run(reused), run(dropped)]
    runs = RunStore.open(store)
    for doc in old_runs:
        age(runs, doc["execution_id"], 30)
    stored = {p.name: p for p in (store_dir / "files").rglob("*.txt")}
    month_ago = time.time() - 30 * DAY
    for path in stored.values():
        os.utime(path, (month_ago, month_ago))
    # A new run of the same bytes reuses the old object (it is not written again) ...
    new = run(reused)
    assert new["outputs"]["o0"] == "KEPT\n"
    assert stored["reused.txt"].stat().st_mtime < time.time() - 29 * DAY
    # ... and so keeps it, however old it is; the file only old runs named goes.
    plan = pack("gc", "--older-than", "7d", "--store", store, "-o", "json").json()
    key = {name: path.relative_to(store_dir).as_posix() for name, path in stored.items()}
    assert plan["files"]["delete"] == [key["dropped.txt"]]
    assert plan["files"]["keep"] == {key["reused.txt"]: "a kept run's inputs name it"}
    done = pack("gc", "--older-than", "7d", "--store", store, "--delete", "-o", "json")
    assert done.code == 0 and done.json()["deleted"]["files"] == 1, done.err
    assert stored["reused.txt"].is_file() and not stored["dropped.txt"].exists()
    assert run(reused)["outputs"]["o0"] == "KEPT\n"
