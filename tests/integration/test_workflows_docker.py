"""A workflow on the docker backend: the driver is `pack run`, each task call a container
in its own image (scripts/test-infra up)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_remote_docker import Project, make_project
from tests.integration.test_workflows_kubernetes import WORKFLOWS, check_failing_child

pytestmark = pytest.mark.integration


@pytest.fixture()
def project(tmp_path: Path, registry, base_image: str, docker_engine, s3_env) -> Project:  # type: ignore[no-untyped-def]
    proj = make_project(tmp_path, registry, base_image, docker_engine, s3_env, {})
    (proj.root / "wf.py").write_text(
        WORKFLOWS.format(registry=registry.host, base_image=base_image)
    )
    return proj


def test_children_are_containers_of_their_own_images(project: Project, docker_engine) -> None:  # type: ignore[no-untyped-def]
    doc = project.run_json("docker", "main", "--n", "3")
    assert doc["outputs"] == {"o0": 5, "o1": "b"}  # summed in image b
    children = doc["children"]
    assert [(c["task"], c["index"]) for c in children] == [
        ("wf.square", 0),
        ("wf.square", 1),
        ("wf.square", 2),
        ("wf.total", None),
    ]
    assert "test/wf-a@sha256:" in children[0]["image"]
    assert "test/wf-b@sha256:" in children[3]["image"]
    # Every child's container is gone with the run.
    left = docker_engine.run(
        "ps", "-a", "--filter", f"label=pack.dev/root-execution={doc['execution_id']}", "-q"
    )
    assert left.stdout.strip() == ""


def test_a_failing_child_fails_the_workflow_on_docker(project: Project) -> None:
    check_failing_child(project, "docker")


def test_a_detached_workflow_needs_kubernetes(project: Project) -> None:
    proc = project.run("docker", "main", extra=("--detach",))
    assert proc.returncode == 2
    assert "--detach of a workflow needs --backend kubernetes" in proc.stderr
