"""`pack run --backend docker` end to end: ImageSpec → registry, code → S3 bundle, container.

Real servers (scripts/test-infra up): Docker engine, registry, moto S3, the
offline base image. The helpers here are shared with test_remote_kubernetes.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BUCKET = "pack-remote-tests"
# Credentials reach the pod only because the command names them.
PASS_ENV = (
    "--pass-env",
    "AWS_ACCESS_KEY_ID",
    "--pass-env",
    "AWS_SECRET_ACCESS_KEY",
    "--pass-env",
    "AWS_DEFAULT_REGION",
    "--pass-env",
    "AWS_ENDPOINT_URL_S3",
)

WORKFLOW = """\
from pack import ImageSpec, Resources, current_context, task
from pack.launcher.errors import Recoverable

import helper

image = ImageSpec(
    name="test/remote-e2e",
    registry={registry!r},
    base_image={base_image!r},
    packages=["six", "idna"],
)


@task(image=image)
def main(x: int) -> str:
    import idna
    import six

    print("computing", x, flush=True)
    return f"{{helper.greet(x)}} {{six.__name__}} {{idna.__name__}}"


@task(image=image)
def fails(x: int) -> int:
    return helper.explode(x)


@task(image=image, retries=2)
def flaky(x: int) -> int:
    attempt = current_context().attempt
    if attempt < 2:
        raise Recoverable(f"attempt {{attempt}} asks for another")
    return x * 100 + attempt


@task(image=image, limits=Resources(mem="64Mi"))
def hog(x: int) -> int:
    blocks = [b"x" * (16 << 20) for _ in range(32)]  # 512 MiB, written
    return len(blocks) + x


@task(image=image, requests=Resources(cpu="64"))
def huge(x: int) -> int:
    return x


@task(image={missing!r})
def ghost(x: int) -> int:
    return x


@task(image=image)
def chatty(x: int) -> int:
    for i in range(x):
        print(f"line {{i}} of {{x}}", flush=True)
    return x


@task(image=image)
def lingers(x: int) -> int:
    import time

    print("started", flush=True)
    time.sleep(x)  # seen running: the log is followed while the container runs
    for i in range(3):
        print(f"last {{i}}", flush=True)
    return x


@task(image=image, deck=True)
def reported(x: int) -> int:
    from pack import Deck
    from pack.deck import markdown, table

    Deck("Summary", markdown(f"# Squares up to {{x}}"))
    Deck("Rows", table([{{"i": i, "square": i * i}} for i in range(x)]))
    return x * x
"""

HELPER = """\
from pathlib import Path


def greet(x: int) -> str:
    data = (Path(__file__).parent / "assets" / "data.txt").read_text().strip()
    return f"{data}:{x * 2}"


def explode(x: int) -> int:
    raise ValueError(f"cannot handle {x}")
"""


def uid() -> str:
    return uuid.uuid4().hex[:10]


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    store: str
    missing_image: str
    # What `python -c` runs: pack's CLI, or a test's wrapper around it (a fault injected).
    program: str = "import sys; from pack.cli import main; sys.exit(main())"

    def pack(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", self.program, *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run(
        self, backend: str, task: str, *task_args: str, extra: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        return self.pack(
            "run",
            "--copy",
            "all",
            "--backend",
            backend,
            "--store",
            self.store,
            *PASS_ENV,
            *extra,
            "-o",
            "json",
            "wf.py",
            task,
            *task_args,
        )

    def run_json(self, backend: str, task: str, *task_args: str) -> dict[str, Any]:
        proc = self.run(backend, task, *task_args)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return json.loads(proc.stdout)  # type: ignore[no-any-return]


def make_project(
    tmp_path: Path,
    registry: Any,
    base_image: str,
    docker_engine: Any,
    s3_env: Any,
    extra_env: dict[str, str],
) -> Project:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_env.endpoint_url, region_name=s3_env.region)
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    root = tmp_path / "project"
    (root / "assets").mkdir(parents=True)
    missing = f"{registry.host}/test/no-such-image-{uid()}:missing"
    (root / "wf.py").write_text(
        WORKFLOW.format(registry=registry.host, base_image=base_image, missing=missing)
    )
    (root / "helper.py").write_text(HELPER)
    (root / "assets" / "data.txt").write_text("hello-data\n")
    env = {
        **os.environ,
        "PACK_DOCKER_HOST": docker_engine.host,
        "PACK_DOCKER_CLI": docker_engine.cli,
        "PACK_BUILD_CA_BUNDLE": str(HOST_CA),
        "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
        **extra_env,
    }
    for name in ("PACK_STORE", "PACK_BACKEND", "PACK_POD_TEMPLATE", "PACK_BUILD_CACHE"):
        if name not in extra_env:
            env.pop(name, None)
    return Project(root, env, f"s3://{BUCKET}/{uid()}", missing)


@pytest.fixture()
def project(tmp_path: Path, registry, base_image: str, docker_engine, s3_env) -> Project:  # type: ignore[no-untyped-def]
    return make_project(tmp_path, registry, base_image, docker_engine, s3_env, {})


def check_reuse_flow(project: Project, backend: str) -> None:
    """First run builds or reuses the image and uploads the bundle; a code change uploads
    one new bundle and builds nothing; no change uploads nothing."""
    first = project.run_json(backend, "main", "--x", "21")
    assert first["status"] == "succeeded"
    assert first["outputs"] == {"o0": "hello-data:42 six idna"}
    assert first["image_status"] in ("built", "reused")
    assert "@sha256:" in first["image"]  # pods name the image by digest
    assert first["bundle"]["uploaded"] is True

    helper = project.root / "helper.py"
    helper.write_text(helper.read_text().replace("x * 2", "x * 3"))
    second = project.run_json(backend, "main", "--x", "21")
    assert second["outputs"] == {"o0": "hello-data:63 six idna"}
    assert second["image_status"] == "reused"
    assert second["image"] == first["image"]
    assert second["bundle"]["uploaded"] is True
    assert second["bundle"]["digest"] != first["bundle"]["digest"]

    third = project.run_json(backend, "main", "--x", "1")
    assert third["outputs"] == {"o0": "hello-data:3 six idna"}
    assert third["image_status"] == "reused"
    assert third["bundle"]["uploaded"] is False
    assert third["bundle"]["digest"] == second["bundle"]["digest"]


def check_failure_shows_traceback(project: Project, backend: str) -> None:
    proc = project.run(backend, "fails", "--x", "7")
    assert proc.returncode != 0
    assert "ValueError: cannot handle 7" in proc.stderr
    assert "helper.py" in proc.stderr and "explode" in proc.stderr  # the user's own frames


def check_retry_in_new_attempt(project: Project, backend: str) -> None:
    out = project.run_json(backend, "flaky", "--x", "4")
    assert out["outputs"] == {"o0": 402}
    phases = [(a["attempt"], a["phase"]) for a in out["attempts"]]
    assert phases == [(1, "Failed"), (2, "Succeeded")]
    assert out["attempts"][0]["error"]["recoverable"] is True


def remove_detached(project: Project, backend: str, name: str) -> None:
    """Detached runs leave their pod or container for `pack logs`; tests clean up."""
    if backend == "docker":
        subprocess.run(
            [
                project.env["PACK_DOCKER_CLI"],
                "-H",
                project.env["PACK_DOCKER_HOST"],
                "rm",
                "-f",
                name,
            ],
            capture_output=True,
            check=False,
        )
        return
    from kubernetes import client, config

    api = client.CoreV1Api(
        config.new_client_from_config(config_file=project.env["PACK_KUBECONFIG"])
    )
    api.delete_namespaced_pod(name, "default", grace_period_seconds=0)


def check_detach_status_logs(project: Project, backend: str) -> None:
    proc = project.run(backend, "chatty", "--x", "3", extra=("--detach",))
    assert proc.returncode == 0, proc.stderr[-3000:]
    submitted = json.loads(proc.stdout)
    run_id = submitted["execution_id"]
    assert submitted["status"] == "submitted"
    try:
        # `logs --follow` returns when the container ends, having printed every line.
        logs = project.pack("logs", "--follow", run_id, timeout=600)
        assert logs.returncode == 0, logs.stderr
        assert [line for line in logs.stdout.splitlines() if line.startswith("line ")] == [
            "line 0 of 3",
            "line 1 of 3",
            "line 2 of 3",
        ]
        status = project.pack("status", "-o", "json", run_id)
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["state"] == "succeeded"
        assert report["outputs"] == {"o0": 3}
        assert report["attempt"] == 1 and report["name"] == submitted["name"]
        assert report["backend"] == backend
        assert "one attempt only" in report["note"]  # detached runs are not retried
        text = project.pack("status", run_id)
        assert "note: detached run: one attempt only" in text.stdout, text.stderr
    finally:
        remove_detached(project, backend, submitted["name"])


def test_docker_run_reuse_and_code_change(project: Project) -> None:
    check_reuse_flow(project, "docker")


def test_docker_failure_shows_the_users_traceback(project: Project) -> None:
    check_failure_shows_traceback(project, "docker")


def test_docker_recoverable_failure_is_retried(project: Project) -> None:
    check_retry_in_new_attempt(project, "docker")


def test_docker_detach_then_status_and_logs(project: Project) -> None:
    check_detach_status_logs(project, "docker")


def test_docker_over_memory_limit_is_one_line_oom(project: Project) -> None:
    proc = project.run("docker", "hog", "--x", "1")
    assert proc.returncode != 0
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("pack: error:"))
    assert "ran out of memory" in line and "64Mi" in line


def test_docker_missing_image_names_the_ref(project: Project) -> None:
    proc = project.run("docker", "ghost", "--x", "1")
    assert proc.returncode != 0
    assert f"cannot pull image {project.missing_image}" in proc.stderr
