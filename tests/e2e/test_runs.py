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
