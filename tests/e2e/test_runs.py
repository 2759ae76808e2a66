"""Run records through the CLI on the local backend: `pack runs`, `status`, `logs`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

TASKS = """
    import sys

    from pack import task


    @task
    def chatty(n: int) -> int:
        for i in range(n):
            print(f"out {i}")
        print("to stderr", file=sys.stderr)
        return n * 2


    @task
    def broken(n: int) -> int:
        print("about to fail")
        raise ValueError(f"bad n {n}")
"""


def store_files(cache: Path) -> list[str]:
    root = cache / "store"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_local_run_leaves_a_record_its_log_and_an_index_entry(pack: Any, project: Any) -> None:
    wf = str(project({"logs_mod.py": TASKS}) / "logs_mod.py")
    r = pack("run", "-o", "json", wf, "chatty", "--n", "3")
    assert r.code == 0, r.err
    run_id = r.json()["execution_id"]
    assert "out 2" in r.err  # still streamed to the terminal

    listed = pack("runs", "-o", "json")
    assert listed.code == 0, listed.err
    (entry,) = listed.json()
    assert entry["id"] == run_id and entry["status"] == "succeeded"
    assert entry["task"] == "logs_mod.chatty" and entry["backend"] == "local"
    assert entry["attempts"][0]["name"] == f"chatty-{run_id}-1"
    assert entry["timings"]["total"] > 0

    status = pack("status", "-o", "json", run_id)
    assert status.code == 0, status.err
    report = status.json()
    assert report["state"] == "succeeded" and report["outputs"] == {"o0": 6}
    assert report["bundle_digest"].startswith("sha256:")

    logs = pack("logs", run_id)
    assert logs.code == 0, logs.err
    assert [ln for ln in logs.out.splitlines() if ln.startswith(("out", "to"))] == [
        "out 0",
        "out 1",
        "out 2",
        "to stderr",
    ]
    text = pack("runs")
    assert run_id in text.out and "succeeded" in text.out and "logs_mod.chatty" in text.out


def test_a_failed_run_is_recorded_failed_with_its_error_and_log(pack: Any, project: Any) -> None:
    wf = str(project({"logs_mod.py": TASKS}) / "logs_mod.py")
    r = pack("run", wf, "broken", "--n", "7")
    assert r.code != 0
    listed = pack("runs", "-o", "json", "--status", "failed").json()
    (entry,) = listed
    assert "ValueError: bad n 7" in entry["error"]
    assert pack("runs", "-o", "json", "--status", "succeeded").json() == []
    status = pack("status", entry["id"])
    assert status.code == 1 and "bad n 7" in status.out
    logs = pack("logs", entry["id"])
    assert "about to fail" in logs.out and "ValueError: bad n 7" in logs.out


def test_runs_filters_by_task_and_limits(pack: Any, project: Any) -> None:
    wf = str(project({"logs_mod.py": TASKS}) / "logs_mod.py")
    ids = [
        pack("run", "-o", "json", wf, "chatty", "--n", str(n)).json()["execution_id"]
        for n in (1, 2)
    ]
    pack("run", wf, "broken", "--n", "1")
    assert [e["id"] for e in pack("runs", "-o", "json", "--task", "chatty").json()] == ids[::-1]
    assert len(pack("runs", "-o", "json", "--limit", "1").json()) == 1
    assert len(pack("runs", "-o", "json").json()) == 3


def test_a_missing_run_is_one_line_naming_the_store_looked_in(
    pack: Any, project: Any, tmp_path: Path
) -> None:
    default_store = (Path(os.environ["PACK_CACHE_DIR"]) / "store").resolve().as_uri()
    for command in ("status", "logs"):
        r = pack(command, "rnosuchrun")
        assert r.code == 2
        assert r.err.strip() == f"pack: error: no run rnosuchrun in store {default_store}"
    other = (tmp_path / "other").as_uri()
    r = pack("status", "rnosuchrun", "--store", other)
    assert r.err.strip() == f"pack: error: no run rnosuchrun in store {other}"
    r = pack("status", "../../etc")
    assert r.code == 2 and "invalid run id" in r.err


def test_a_run_with_another_store_is_found_from_this_machine(
    pack: Any, project: Any, tmp_path: Path
) -> None:
    wf = str(project({"logs_mod.py": TASKS}) / "logs_mod.py")
    store = (tmp_path / "elsewhere").as_uri()
    run_id = pack("run", "-o", "json", "--store", store, wf, "chatty", "--n", "1").json()[
        "execution_id"
    ]
    # No --store: the cache dir remembers where this user's run went.
    assert pack("status", "-o", "json", run_id).json()["state"] == "succeeded"
    assert "out 0" in pack("logs", run_id).out
    assert pack("runs", "-o", "json").json() == []  # the default store has none
    assert len(pack("runs", "-o", "json", "--store", store).json()) == 1
    # A run with no note of its own (a workflow's child) is looked for in the stores this
    # machine's runs went to, and the error names each store looked in.
    from pack.runs.runstore import RunStore, new_record

    RunStore.open(store).put(new_record("rchildnote", task="m.t", backend="local", now=1.0))
    assert pack("status", "-o", "json", "rchildnote").json()["state"] == "pending"
    default_store = (Path(os.environ["PACK_CACHE_DIR"]) / "store").resolve().as_uri()
    missing = pack("status", "rnosuchrun")
    assert missing.err.strip() == (
        f"pack: error: no run rnosuchrun in store {default_store} (nor in {store})"
    )


@pytest.fixture
def hostile_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A kubeconfig whose exec credential plugin leaves a marker file when it runs,
    and a HOME and environment with no kubeconfig of the user's own."""
    marker = tmp_path / "exec-plugin-ran"
    kubeconfig = tmp_path / "planted-kubeconfig"
    credential = json.dumps(
        {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "kind": "ExecCredential",
            "status": {"token": "planted"},
        }
    )
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [
                    {
                        "name": "u",
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": "/bin/sh",
                                "args": ["-c", f"touch {marker}; echo '{credential}'"],
                            }
                        },
                    }
                ],
                "contexts": [{"name": "planted", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "planted",
            }
        )
    )
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("KUBECONFIG", "PACK_KUBECONFIG", "PACK_KUBE_CONTEXT", "DOCKER_HOST"):
        monkeypatch.delenv(var, raising=False)
    # Any S3 request fails at once (nothing listens there).
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    return kubeconfig, marker


def test_a_planted_store_record_cannot_choose_the_kubeconfig(
    pack: Any, tmp_path: Path, hostile_kubeconfig: tuple[Path, Path]
) -> None:
    """Issue 15.1: a record in a shared store names a kubeconfig with an exec plugin;
    `pack status` and `pack logs` must not run it."""
    kubeconfig, marker = hostile_kubeconfig
    store = tmp_path / "shared-store"
    run_id = "rplanted01"
    connection = {
        "kubeconfig": str(kubeconfig),
        "kube_context": "planted",
        "docker_host": "tcp://127.0.0.1:1",
        "namespace": "victim",
        # The old code also let the record pick the store (kubernetes refuses file://).
        "store_url": "s3://planted-bucket/x",
    }
    # The record as the old code wrote it (runs/<id>/run.json) ...
    old = {
        "execution_id": run_id,
        "backend": "kubernetes",
        "task": "wf.main",
        "task_name": "main",
        "run_prefix": f"{store.as_uri()}/runs/{run_id}",
        "attempts": 1,
        "max_attempts": 1,
        **connection,
    }
    # ... and as it is written now, with the same connection settings planted in it.
    new = {
        "id": run_id,
        "task": "wf.main",
        "backend": "kubernetes",
        "status": "running",
        "created_at": 1.0,
        "updated_at": 1.0,
        "attempts": [{"attempt": 1, "status": "running", "name": f"main-{run_id}-1"}],
        **connection,
    }
    (store / "runs" / run_id).mkdir(parents=True)
    (store / "runs" / run_id / "run.json").write_text(json.dumps(old))
    (store / "runs" / run_id / "record.json").write_text(json.dumps(new))

    status = pack("status", "-o", "json", run_id, "--store", store.as_uri())
    assert not marker.exists(), "pack status ran the planted kubeconfig's exec plugin"
    logs = pack("logs", run_id, "--store", store.as_uri())
    assert not marker.exists(), "pack logs ran the planted kubeconfig's exec plugin"
    assert status.code == 0, status.err
    report = status.json()
    assert report["state"] == "running" and report["backend"] == "kubernetes"
    assert "kubernetes backend did not answer" in report["note"]
    assert "victim" not in status.out
    assert logs.code != 0 and logs.err.startswith("pack: error:")
    assert len(logs.err.strip().splitlines()) == 1


FILES = """
    from pathlib import Path

    from pack import Directory, File, task


    @task
    def make(text: str, n: int) -> tuple[File, Directory, int]:
        out = File.new("note.txt")
        Path(out).write_text(text)
        folder = Directory.new("many")
        for i in range(n):
            (Path(folder) / f"part{i}.txt").write_text(str(i))
        (Path(folder) / "sub").mkdir()
        (Path(folder) / "sub" / "deep.txt").write_text("deep")
        return out, folder, n
"""


def test_outputs_and_inputs_decoded_and_downloaded(pack: Any, project: Any, tmp_path: Path) -> None:
    wf = str(project({"files_out.py": FILES}) / "files_out.py")
    r = pack("run", "-o", "json", wf, "make", "--text", "hello", "--n", "2")
    assert r.code == 0, r.err
    run_id = r.json()["execution_id"]

    shown = pack("outputs", "-o", "json", run_id)
    assert shown.code == 0, shown.err
    values = shown.json()
    assert values["o2"] == 2
    assert values["o0"].startswith("file://") and values["o0"].endswith("/note.txt")
    assert values["o1"].startswith("file://") and values["o1"].endswith("/many")
    text = pack("outputs", run_id)
    assert f"o0: {values['o0']}" in text.out.splitlines() and "o2: 2" in text.out.splitlines()

    dest = tmp_path / "got"
    got = pack("outputs", run_id, "--download", str(dest))
    assert got.code == 0, got.err
    assert (dest / "o0" / "note.txt").read_text() == "hello"
    assert (dest / "o1" / "many" / "sub" / "deep.txt").read_text() == "deep"
    assert sorted(p.name for p in (dest / "o1" / "many").iterdir()) == [
        "part0.txt",
        "part1.txt",
        "sub",
    ]
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == []  # no temp left
    again = pack("outputs", run_id, "--download", str(dest))
    assert again.code == 2 and "exists" in again.err

    inputs = pack("inputs", "-o", "json", run_id)
    assert inputs.json() == {"text": "hello", "n": 2}
    assert pack("inputs", run_id).out.splitlines() == ["text: hello", "n: 2"]


def test_outputs_of_a_failed_run_say_why(pack: Any, project: Any) -> None:
    wf = str(project({"logs_mod.py": TASKS}) / "logs_mod.py")
    pack("run", wf, "broken", "--n", "3")
    (entry,) = pack("runs", "-o", "json").json()
    r = pack("outputs", entry["id"])
    assert r.code == 2
    assert r.err.startswith(f"pack: error: run {entry['id']} is failed; it has no outputs")
    assert "bad n 3" in r.err


def test_download_never_fetches_a_url_outside_the_store(pack: Any, tmp_path: Path) -> None:
    """outputs.pb comes from a store others may write: a File URL pointing elsewhere
    (another folder, `..` out of the store) is listed, not fetched."""
    from flyteidl.core import literals_pb2, types_pb2

    from pack.packager.store import FileStore
    from pack.runs import keys
    from pack.runs.runstore import RunStore, new_record

    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy")
    store_dir = tmp_path / "store"
    runs = RunStore(FileStore(store_dir), store_dir.as_uri())
    record = new_record("rplanted02", task="wf.main", backend="local", now=1.0)
    record = record.attempt_started(1, name="main-rplanted02-1", now=1.0)
    record = record.attempt_ended(1, succeeded=True, now=2.0).finished("succeeded", now=2.0)
    runs.put(record)

    def blob(uri: str) -> literals_pb2.Literal:
        meta = literals_pb2.BlobMetadata(type=types_pb2.BlobType(dimensionality=0))
        return literals_pb2.Literal(
            scalar=literals_pb2.Scalar(blob=literals_pb2.Blob(metadata=meta, uri=uri))
        )

    outputs = literals_pb2.LiteralMap(
        literals={
            "o0": blob(secret.as_uri()),
            "o1": blob(f"{store_dir.as_uri()}/runs/../../secret.txt"),
        }
    )
    runs.store.put_bytes(
        keys.attempt_key("rplanted02", 1, "outputs.pb"), outputs.SerializeToString()
    )
    dest = tmp_path / "dest"
    r = pack("outputs", "rplanted02", "--store", store_dir.as_uri(), "--download", str(dest))
    assert r.code == 0, r.err
    assert r.err.count("not downloaded") == 2
    assert not any(p.is_file() for p in dest.rglob("*"))


def test_status_shows_a_workflows_tree(pack: Any, tmp_path: Path) -> None:
    """A tree written through the records API (as a workflow driver does), read back by
    `pack status` as nested objects (-o json) and as a tree in text."""
    from pack.runs.runstore import RunStore, new_record

    store = (tmp_path / "wfstore").as_uri()
    runs = RunStore.open(store)

    def done(record: Any, status: str = "succeeded") -> Any:
        record = record.attempt_started(1, name=f"x-{record.id}-1", now=record.created_at + 1)
        record = record.attempt_ended(1, succeeded=status == "succeeded", now=record.created_at + 2)
        return record.finished(status, now=record.created_at + 2, timings={"total": 1.5})

    root = new_record("rwfroot", task="wf.pipeline", backend="local", now=100.0, kind="workflow")
    runs.put(root.attempt_started(1, name="pipeline-rwfroot-1", now=100.0))
    runs.put(
        done(new_record("rwfprep", task="wf.prep", backend="local", now=101.0, parent="rwfroot"))
    )
    fan = new_record(
        "rwfmap", task="wf.square", backend="local", now=102.0, parent="rwfroot", kind="task"
    )
    runs.put(done(fan, "failed"))
    for i in range(3):
        runs.put(
            done(
                new_record(
                    f"rwfsq{i}",
                    task="wf.square",
                    backend="local",
                    now=103.0 + i,
                    parent="rwfmap",
                    index=i,
                ),
                "failed" if i == 1 else "succeeded",
            )
        )

    doc = pack("status", "-o", "json", "rwfroot", "--store", store).json()
    assert [c["id"] for c in doc["children"]] == ["rwfprep", "rwfmap"]
    assert [(c["index"], c["status"]) for c in doc["children"][1]["children"]] == [
        (0, "succeeded"),
        (1, "failed"),
        (2, "succeeded"),
    ]
    text = pack("status", "rwfroot", "--store", store).out
    assert "children: 2" in text
    assert "├─ wf.prep rwfprep: succeeded 1.50s" in text
    assert "└─ wf.square rwfmap: failed" in text
    assert "   ├─ [1] wf.square rwfsq1: failed" in text
    assert "   └─ [2] wf.square rwfsq2: succeeded" in text
    # Children are not top-level runs.
    assert [r["id"] for r in pack("runs", "-o", "json", "--store", store).json()] == ["rwfroot"]


SLOW = """
    import time

    from pack import task


    @task
    def slow(n: int) -> int:
        for i in range(n):
            print(f"tick {i}", flush=True)
            time.sleep(0.5)
        return n
"""


def test_logs_follow_a_local_run_from_another_process(project: Any, tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    wf = str(project({"slow_mod.py": SLOW}) / "slow_mod.py")
    env = {**os.environ, "PACK_STORE": (tmp_path / "live").as_uri()}
    runner = subprocess.Popen(
        [sys.executable, "-m", "pack", "run", wf, "slow", "--n", "8"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run_id = None
        deadline = time.monotonic() + 60
        while run_id is None and time.monotonic() < deadline:
            listed = subprocess.run(
                [sys.executable, "-m", "pack", "runs", "-o", "json"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            found = json.loads(listed.stdout)
            run_id = found[0]["id"] if found else None
            time.sleep(0.2)
        assert run_id is not None
        follow = subprocess.run(
            [sys.executable, "-m", "pack", "logs", "--follow", run_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert follow.returncode == 0, follow.stderr
        ticks = [ln for ln in follow.stdout.splitlines() if ln.startswith("tick")]
        assert ticks == [f"tick {i}" for i in range(8)]
        assert runner.wait(timeout=60) == 0
    finally:
        runner.kill()


DECKS = """
    from pack import Deck, task
    from pack.deck import markdown, table


    @task(deck=True)
    def report(n: int) -> int:
        Deck("Summary", markdown(f"# Report\\n\\n*n* is {n}"))
        Deck("Rows", table([{"i": i, "sq": i * i} for i in range(n)])).append("<p>end</p>")
        return n * n


    @task(deck=True)
    def report_fails(n: int) -> int:
        Deck("Before", "<p>got this far</p>")
        raise RuntimeError("deck then boom")


    @task
    def no_deck(n: int) -> int:
        Deck("Ignored", "<p>x</p>")
        return n
"""


def test_a_deck_is_written_next_to_the_outputs(pack: Any, project: Any) -> None:
    wf = str(project({"decks.py": DECKS}) / "decks.py")
    r = pack("run", "-o", "json", wf, "report", "--n", "3")
    assert r.code == 0, r.err
    run_id = r.json()["execution_id"]
    where = pack("deck", run_id)
    assert where.code == 0, where.err
    path = Path(where.out.strip())
    assert (
        path.name == "deck.html" and path.parent.as_uri() == r.json()["artifacts"] + "/attempts/1"
    )
    page = path.read_text()
    for title in ("Summary", "Rows", "Inputs", "Outputs", "Timings"):
        assert f">{title}</label>" in page
    assert "<h1>Report</h1>" in page and "<td>4</td>" in page and "<p>end</p>" in page
    assert pack("runs", "-o", "json").json()[0]["deck"] is True

    failed = pack("run", "-o", "json", wf, "report_fails", "--n", "1")
    assert failed.code != 0
    fail_id = pack("runs", "-o", "json").json()[0]["id"]
    page = Path(pack("deck", fail_id).out.strip()).read_text()
    assert ">Error</label>" in page and "deck then boom" in page and "got this far" in page

    plain = pack("run", "-o", "json", wf, "no_deck", "--n", "1")
    assert plain.code == 0, plain.err
    assert "is not kept" in plain.err  # the Deck call in a deck=False task says so
    missing = pack("deck", plain.json()["execution_id"])
    assert missing.code == 2
    assert "has no deck" in missing.err and "not declared @task(deck=True)" in missing.err
