"""The servers `scripts/test-infra up` starts do what the rest of the suite relies on."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
import uuid

import pytest

from tests.integration.conftest import AuthRegistry, DockerEngine, S3Server

pytestmark = pytest.mark.integration


def test_base_image_runs_python_with_venv(docker_engine: DockerEngine, base_image: str) -> None:
    result = docker_engine.run(
        "run",
        "--rm",
        "--network",
        "host",
        base_image,
        "python3",
        "-c",
        "import sys, venv; print(sys.version_info[0], sys.version_info[1])",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "11"]


def test_container_survives_negative_oom_score_adj(
    docker_engine: DockerEngine, base_image: str
) -> None:
    # kubelet asks for negative scores; this VM cannot grant them, the engine's runtime
    # wrapper clamps them so the container still starts.
    result = docker_engine.run(
        "run",
        "--rm",
        "--network",
        "host",
        "--oom-score-adj=-998",
        base_image,
        "cat",
        "/proc/self/oom_score_adj",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 0


def _v2_status(host: str, authorization: str | None) -> int:
    request = urllib.request.Request(f"http://{host}/v2/")
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_auth_registry_rejects_anonymous_and_accepts_its_user(
    auth_registry: AuthRegistry,
) -> None:
    assert _v2_status(auth_registry.host, None) == 401
    assert _v2_status(auth_registry.host, _basic(auth_registry.username, "wrong")) == 401
    good = _basic(auth_registry.username, auth_registry.password)
    assert _v2_status(auth_registry.host, good) == 200


def test_s3_server_creates_a_bucket(s3_env: S3Server) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_env.endpoint_url)
    bucket = f"pack-smoke-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    try:
        names = {b["Name"] for b in client.list_buckets()["Buckets"]}
        assert bucket in names
    finally:
        client.delete_bucket(Bucket=bucket)
