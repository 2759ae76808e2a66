"""Run records of docker and kubernetes runs, read back through the CLI from S3:
`pack runs`, `status`, `logs` (after the pod or container is gone), `outputs`, `inputs`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_remote_docker import Project, remove_detached
from tests.integration.test_remote_docker import project as docker_project  # noqa: F401
from tests.integration.test_remote_kubernetes import project as kube_project  # noqa: F401

pytestmark = pytest.mark.integration


def lines_of(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("line ")]


def check_attached_run_is_recorded(project: Project, backend: str) -> None:
    done = project.run_json(backend, "chatty", "--x", "3")
    run_id = done["execution_id"]
    failed = project.run(backend, "fails", "--x", "5")
    assert failed.returncode != 0

    listed = project.pack("runs", "-o", "json", "--store", project.store)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [e["status"] for e in entries[:2]] == ["failed", "succeeded"]
    assert entries[1]["id"] == run_id and entries[1]["backend"] == backend
    assert "@sha256:" in entries[1]["image"]
    assert "ValueError: cannot handle 5" in entries[0]["error"]

    # The pod/container is gone (attached runs remove theirs): the log comes from the store.
    logs = project.pack("logs", run_id, "--store", project.store)
    assert logs.returncode == 0, logs.stderr
    assert lines_of(logs.stdout) == ["line 0 of 3", "line 1 of 3", "line 2 of 3"]
    failed_logs = project.pack("logs", entries[0]["id"], "--store", project.store)
    assert "ValueError: cannot handle 5" in failed_logs.stdout

    outputs = project.pack("outputs", "-o", "json", run_id, "--store", project.store)
    assert json.loads(outputs.stdout) == {"o0": 3}, outputs.stderr
    inputs = project.pack("inputs", "-o", "json", run_id, "--store", project.store)
    assert json.loads(inputs.stdout) == {"x": 3}, inputs.stderr
    status = project.pack("status", "-o", "json", run_id, "--store", project.store)
    report = json.loads(status.stdout)
    assert report["state"] == "succeeded" and report["name"] == f"chatty-{run_id}-1"


def check_detached_log_outlives_its_pod(project: Project, backend: str) -> None:
    proc = project.run(backend, "chatty", "--x", "2", extra=("--detach",))
    assert proc.returncode == 0, proc.stderr[-3000:]
    submitted = json.loads(proc.stdout)
    run_id = submitted["execution_id"]
    try:
        follow = project.pack("logs", "--follow", run_id, timeout=600)
        assert follow.returncode == 0, follow.stderr
        assert lines_of(follow.stdout) == ["line 0 of 2", "line 1 of 2"]
    finally:
        remove_detached(project, backend, submitted["name"])
    # The record was settled from outputs.pb and the log kept when the attempt ended.
    listed = json.loads(project.pack("runs", "-o", "json", "--store", project.store).stdout)
    assert [(e["id"], e["status"]) for e in listed] == [(run_id, "succeeded")]
    again = project.pack("logs", run_id)
    assert again.returncode == 0, again.stderr
    assert lines_of(again.stdout) == ["line 0 of 2", "line 1 of 2"]


def test_docker_runs_are_recorded(docker_project: Project) -> None:  # noqa: F811
    check_attached_run_is_recorded(docker_project, "docker")


def test_docker_detached_log_outlives_its_container(docker_project: Project) -> None:  # noqa: F811
    check_detached_log_outlives_its_pod(docker_project, "docker")


def test_kubernetes_runs_are_recorded(kube_project: Project, kubeconfig: Path) -> None:  # noqa: F811
    check_attached_run_is_recorded(kube_project, "kubernetes")


def test_kubernetes_detached_log_outlives_its_pod(kube_project: Project) -> None:  # noqa: F811
    check_detached_log_outlives_its_pod(kube_project, "kubernetes")


def test_kubernetes_deck_is_fetched_from_s3(kube_project: Project) -> None:  # noqa: F811
    done = kube_project.run_json("kubernetes", "reported", "--x", "4")
    run_id = done["execution_id"]
    where = kube_project.pack("deck", run_id)
    assert where.returncode == 0, where.stderr
    path = Path(where.stdout.strip())
    cache = Path(kube_project.env.get("PACK_CACHE_DIR", ""))
    assert path.is_file() and cache in path.parents  # a local copy, in the cache dir
    page = path.read_text()
    assert "<h1>Squares up to 4</h1>" in page and "<td>9</td>" in page
    assert ">Inputs</label>" in page and ">Timings</label>" in page
