"""examples/ci: the GitHub Actions and GitLab CI jobs' commands, run as written.

The steps are read from the YAML files themselves (so an edit there is what gets tested)
and run with the shells those CI systems use, against the test registry, with no Docker
engine reachable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pack.imagespec.ref import ImageRef
from pack.imagespec.registry import RegistryClient
from tests.integration.test_build import HOST_CA, uid

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ci"


@pytest.fixture()
def ci(tmp_path: Path, registry, base_image: str) -> tuple[Path, dict[str, str]]:  # type: ignore[no-untyped-def]
    checkout = tmp_path / "checkout"
    (checkout / "examples").mkdir(parents=True)
    shutil.copytree(EXAMPLE, checkout / "examples" / "ci")
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "PACK_REGISTRY": f"{registry.host}/ci-{uid()}",
        "PACK_PYTHON_BASE": base_image,  # stands in for python:3.11-slim (no Docker Hub here)
        "PACK_BUILD_CA_BUNDLE": str(HOST_CA),
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "PACK_DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
    }
    for name in ("PACK_BUILDER", "PACK_BUILD_CACHE"):
        env.pop(name, None)
    return checkout, env


def run(script: str, shell: list[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(
        [*shell, script], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, f"{script}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def table(text: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    assert [c.strip() for c in rows[0]] == ["spec", "ref", "status", "seconds"]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[2:]}


def github_steps() -> dict[str, dict[str, Any]]:
    workflow = yaml.safe_load((EXAMPLE / "github-actions.yml").read_text())
    return {s["name"]: s for s in workflow["jobs"]["images"]["steps"] if "name" in s}


def test_github_then_gitlab_job_build_what_is_missing_then_reuse(
    ci: tuple[Path, dict[str, str]],
) -> None:
    checkout, env = ci
    steps = github_steps()
    output, summary = checkout / "github-output", checkout / "step-summary.md"
    gh_env = {**env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    bash = ["bash", "-e", "-c"]  # GitHub's default shell for `run:`

    run(steps["Check images"]["run"], bash, checkout, gh_env)
    outputs = dict(line.split("=", 1) for line in output.read_text().split())
    build = steps["Build missing images"]
    assert build["if"] == "steps.check.outputs.missing == 'true'"
    assert outputs["missing"] == "true"  # nothing was built yet: the build step runs
    run(build["run"], bash, checkout, gh_env)
    run(steps["Summary"]["run"], bash, checkout, gh_env)
    first = table(summary.read_text())
    assert set(first) == {"base", "app"}
    for ref, status, seconds in first.values():
        assert status == "built" and float(seconds) >= 0
        parsed = ImageRef.parse(ref.strip("`"))
        assert parsed.digest is not None and RegistryClient().exists(parsed)

    # The GitLab job on the next pipeline: everything is there, so it only checks.
    job = yaml.safe_load((EXAMPLE / "gitlab-ci.yml").read_text())["images"]
    for name in ("pack-check.json", "pack-build.json"):
        (checkout / name).unlink()
    gitlab = ["bash", "-e", "-o", "pipefail", "-c"]
    for line in job["script"]:
        run(line, gitlab, checkout, env)
    assert not (checkout / "pack-build.json").exists()  # nothing missing, nothing built
    for line in job["after_script"]:
        run(line, gitlab, checkout, env)
    second = table((checkout / "image-summary.md").read_text())
    assert {k: v[1] for k, v in second.items()} == {"base": "reused", "app": "reused"}
    assert {k: v[0] for k, v in second.items()} == {k: v[0] for k, v in first.items()}
