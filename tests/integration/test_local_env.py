"""A local run's task gets a pod's environment, against the real S3 server: the store's
credentials reach it only through --pass-env, and without them the failure says so."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from .conftest import S3Server, run_pack

pytestmark = pytest.mark.integration

WORKFLOW = """\
import os

from pack import task


@task
def env_names() -> list[str]:
    return sorted(os.environ)
"""


def test_store_credentials_reach_a_local_task_only_when_named(
    s3_server: S3Server, tmp_path: Path
) -> None:
    import boto3

    bucket = f"pack-localenv-{uuid.uuid4().hex[:12]}"
    creds = {
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_DEFAULT_REGION": s3_server.region,
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint_url,
    }
    boto3.client("s3", **_boto_args(creds)).create_bucket(Bucket=bucket)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "envwf.py").write_text(WORKFLOW)
    home = tmp_path / "home"  # no ~/.aws: only the environment could carry credentials
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PACK_"))}
    env.update(creds, HOME=str(home), UNRELATED_TOKEN="t0k3n", PACK_CACHE_DIR=str(tmp_path / "c"))
    run = ("run", "--copy", "all", "--store", f"s3://{bucket}/p", "-o", "json")

    proc = run_pack(root, env, *run, "envwf.py", "env_names")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert any(ln.startswith("pack: error: task envwf.env_names failed") for ln in lines)
    assert lines[-1].startswith("hint: a task sees only the variables --pass-env names")
    assert "--pass-env AWS_ACCESS_KEY_ID --pass-env AWS_SECRET_ACCESS_KEY" in lines[-1]

    named = [a for name in creds for a in ("--pass-env", name)]
    proc = run_pack(root, env, *run, *named, "envwf.py", "env_names")
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = set(json.loads(proc.stdout)["outputs"]["o0"])
    assert set(creds) <= names
    assert "UNRELATED_TOKEN" not in names


def _boto_args(creds: dict[str, str]) -> dict[str, str]:
    return {
        "endpoint_url": creds["AWS_ENDPOINT_URL_S3"],
        "aws_access_key_id": creds["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"],
        "region_name": creds["AWS_DEFAULT_REGION"],
    }
