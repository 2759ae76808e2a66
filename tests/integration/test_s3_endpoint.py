"""The configured S3 endpoint (`PACK_S3_ENDPOINT_URL` / `[tool.pack] s3_endpoint_url`)
reaches every store access, in the client and in the pod, with boto3's own endpoint
variable (`AWS_ENDPOINT_URL_S3`) unset: bundle, inputs, outputs, and the values a task
offloads (File, Directory, numpy arrays). Real `pack` processes, the real S3 server.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from .conftest import S3Server, run_pack

pytestmark = pytest.mark.integration

WORKFLOW = """\
import numpy as np

from pack import Directory, File, task


@task
def shout(data: File) -> File:
    out = File.new("loud.txt")
    with out.open("w") as f:
        f.write(data.open().read().upper())
    return out


@task
def tree(n: int) -> Directory:
    out = Directory.new("tree")
    for i in range(n):
        (out.path / f"part-{i}.txt").write_text(f"part {i}\\n")
    return out


@task
def square(n: int) -> np.ndarray:
    return np.arange(n) ** 2
"""


@pytest.fixture()
def bucket(s3_server: S3Server) -> str:
    name = f"pack-endpoint-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


# A task gets credentials only when the command names them, on every backend (local too).
CREDS = (
    "--pass-env",
    "AWS_ACCESS_KEY_ID",
    "--pass-env",
    "AWS_SECRET_ACCESS_KEY",
    "--pass-env",
    "AWS_DEFAULT_REGION",
)


def _env(s3: S3Server, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and not k.startswith("PACK_") or k == "PACK_CACHE_DIR"
    }
    env.update(
        AWS_ACCESS_KEY_ID=s3.access_key,
        AWS_SECRET_ACCESS_KEY=s3.secret_key,
        AWS_DEFAULT_REGION=s3.region,
        # No ~/.aws/config endpoint either: only pack's own setting names the server.
        HOME=str(tmp_path / "home"),
        **extra,
    )
    assert "AWS_ENDPOINT_URL_S3" not in env and "AWS_ENDPOINT_URL" not in env
    return env


def _get(s3: S3Server, url: str) -> bytes:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "wf.py").write_text(WORKFLOW)
    (root / "words.txt").write_text("quiet words\n")
    return root


def test_local_run_with_file_directory_and_array_uses_the_configured_endpoint(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    root = _project(tmp_path)
    env = _env(s3_server, tmp_path, PACK_S3_ENDPOINT_URL=s3_server.endpoint_url)
    store = f"s3://{bucket}/var"
    run = ("run", "--copy", "all", "--store", store, *CREDS, "-o", "json", "wf.py")

    # A File input is uploaded by the client, read in the task; the output File is
    # written by the task and named by URL.
    proc = run_pack(root, env, *run, "shout", "--data", "words.txt")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (url,) = json.loads(proc.stdout)["outputs"].values()
    assert url.startswith(f"s3://{bucket}/var/") and _get(s3_server, url) == b"QUIET WORDS\n"

    proc = run_pack(root, env, *run, "tree", "--n", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (prefix,) = json.loads(proc.stdout)["outputs"].values()
    assert _get(s3_server, f"{prefix}/part-2.txt") == b"part 2\n"

    # The array is offloaded by the task and read back by the client to print it.
    proc = run_pack(root, env, *run, "square", "--n", "5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["outputs"] == {"o0": [0, 1, 4, 9, 16]}


def test_endpoint_from_pyproject_reaches_the_pod(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    root = _project(tmp_path)
    (root / "pyproject.toml").write_text(
        f'[tool.pack]\nstore = "s3://{bucket}/toml"\ns3_endpoint_url = "{s3_server.endpoint_url}"\n'
    )
    env = _env(s3_server, tmp_path)
    assert "PACK_S3_ENDPOINT_URL" not in env  # the pod learns it from its rendered env only
    proc = run_pack(
        root,
        env,
        "run",
        "--copy",
        "all",
        *CREDS,
        "-o",
        "json",
        "wf.py",
        "shout",
        "--data",
        "words.txt",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (url,) = json.loads(proc.stdout)["outputs"].values()
    assert _get(s3_server, url) == b"QUIET WORDS\n"

    # And `pack render` shows the pod the same endpoint.
    proc = run_pack(root, env, "render", "-o", "json", "wf.py", "shout", "--data", "words.txt")
    assert proc.returncode == 0, proc.stderr[-3000:]
    container = json.loads(proc.stdout)["spec"]["containers"][0]
    assert {"name": "PACK_S3_ENDPOINT_URL", "value": s3_server.endpoint_url} in container["env"]


def test_docker_container_gets_the_endpoint(
    tmp_path: Path,
    registry,
    base_image: str,
    docker_engine,
    s3_env: S3Server,  # type: ignore[no-untyped-def]
) -> None:
    """A real container: only the credentials are passed; the endpoint comes from pack."""
    from .test_remote_docker import make_project

    project = make_project(
        tmp_path,
        registry,
        base_image,
        docker_engine,
        s3_env,
        {"PACK_S3_ENDPOINT_URL": s3_env.endpoint_url},
    )
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        project.env.pop(name, None)
    proc = project.pack(
        "run",
        "--copy",
        "all",
        "--backend",
        "docker",
        "--store",
        project.store,
        *CREDS,
        "-o",
        "json",
        "wf.py",
        "main",
        "--x",
        "4",
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert json.loads(proc.stdout)["outputs"] == {"o0": "hello-data:8 six idna"}
