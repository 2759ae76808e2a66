"""`pack gc` on a real S3 server: the CLI deletes an old run's objects; with the clock a
month ahead, old bundles go unless a kept run was made from them."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from pack.gc.collect import apply_plan, plan_gc
from pack.runs import keys
from pack.runs.runstore import RunStore

from .conftest import S3Server, run_pack
from .test_remote_docker import PASS_ENV

pytestmark = pytest.mark.integration
DAY = 86_400.0

TASKS = """
from pack import task

VERSION = {version}


@task
def double(x: int) -> int:
    print("doubling", x)
    return 2 * x
"""


def s3_keys(bucket: str, prefix: str) -> list[str]:
    import boto3

    pages = (
        boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    )
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_gc_on_s3(s3_env: S3Server, tmp_path: Path) -> None:
    import boto3

    bucket = f"pack-gc-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    store = f"s3://{bucket}/team"
    root = tmp_path / "proj"
    root.mkdir()
    env = {**os.environ, "PACK_STORE": store}

    def pack(*args: str) -> subprocess.CompletedProcess[str]:
        return run_pack(root, env, *args)

    ids, digests = [], []
    for version in (1, 2):
        (root / "wf.py").write_text(TASKS.format(version=version))
        r = pack(
            "run", "--copy", "all", *PASS_ENV, "-o", "json", "wf.py", "double", "--x", str(version)
        )
        assert r.returncode == 0, r.stderr
        ids.append(json.loads(r.stdout)["execution_id"])
        digests.append(json.loads(r.stdout)["bundle"]["digest"].split(":")[1])
    runs = RunStore.open(store)
    old = runs.get(ids[0])
    runs.store.delete(keys.index_key(old.created_at, old.id))
    runs.put(
        dataclasses.replace(
            old, created_at=time.time() - 30 * DAY, updated_at=time.time() - 30 * DAY
        )
    )
    assert s3_keys(bucket, f"team/runs/{ids[0]}/")

    dry = pack("gc", "--older-than", "7d", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    assert [r["id"] for r in json.loads(dry.stdout)["runs"]["delete"]] == [ids[0]]
    assert s3_keys(bucket, f"team/runs/{ids[0]}/")  # dry run
    done = pack("gc", "--older-than", "7d", "--delete", "-o", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["deleted"]["runs"] == 1 and report["bundles"]["delete"] == []  # bundles are new
    assert s3_keys(bucket, f"team/runs/{ids[0]}/") == []
    assert not [k for k in s3_keys(bucket, "team/index/") if ids[0] in k]
    assert [r["id"] for r in json.loads(pack("runs", "-o", "json").stdout)] == [ids[1]]
    assert "doubling 2" in pack("logs", ids[1]).stdout

    # A month later: run 2 is old too, but a run still going was made from bundle 2.
    going = dataclasses.replace(runs.get(ids[1]), id="rgcs3going", status="running")
    runs.put(going)
    later = plan_gc(runs, older_than=7 * DAY, now=time.time() + 30 * DAY)
    assert sorted(later.decision.expired) == [ids[1]]
    assert later.bundles == [f"bundles/{digests[0]}.tar.zst"]
    apply_plan(later, runs)
    bundles = s3_keys(bucket, "team/bundles/")
    assert bundles == [f"team/bundles/{digests[1]}.tar.zst"]
    assert s3_keys(bucket, f"team/runs/{ids[1]}/") == []
