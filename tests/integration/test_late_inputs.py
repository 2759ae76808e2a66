"""pack-execute started before its inputs.pb is in the store (the kubernetes backend
creates the pod while it uploads them): the real entrypoint, in its own process, waits
for the object on the real S3 server and runs the task once it is there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from .conftest import S3Server

pytestmark = pytest.mark.integration

TASK = """\
from pack import task


@task
def double(n: int) -> int:
    return 2 * n
"""


def test_pack_execute_runs_the_task_once_late_inputs_arrive(
    s3_server: S3Server, tmp_path: Path
) -> None:
    from flyteidl.core.literals_pb2 import LiteralMap

    from pack.launcher.types.engine import TypeContext, default_engine

    s3 = s3_server.client()
    bucket = f"pack-late-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    module = f"late_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(TASK)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PACK_"))} | {
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_DEFAULT_REGION": s3_server.region,
        "PACK_S3_ENDPOINT_URL": s3_server.endpoint_url,  # as a pod gets it
        "PYTHONPATH": str(tmp_path),
    }
    run = f"s3://{bucket}/runs/r1/attempts/1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pack.launcher.entrypoint", "pack-execute",
         "--inputs", f"s3://{bucket}/runs/r1/inputs.pb",
         "--output-prefix", run,
         "--raw-output-data-prefix", f"s3://{bucket}/raw",
         "--", "task-module", module, "task-name", "double"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # Long after the process has started and found nothing (it reads within ~0.5 s;
        # on a machine so slow that it has not, the test still passes, proving less).
        time.sleep(2.0)
        assert proc.poll() is None, proc.communicate()
        inputs = default_engine().to_literal_map({"n": 21}, {"n": int}, TypeContext())
        s3.put_object(Bucket=bucket, Key="runs/r1/inputs.pb", Body=inputs.SerializeToString())
        written = time.time()
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    key = "runs/r1/attempts/1"
    outputs = LiteralMap.FromString(
        s3.get_object(Bucket=bucket, Key=f"{key}/outputs.pb")["Body"].read()
    )
    assert outputs.literals["o0"].scalar.primitive.integer == 42
    marks = json.loads(s3.get_object(Bucket=bucket, Key=f"{key}/timings.json")["Body"].read())
    assert marks["execute_start"] < written < marks["inputs_read"] <= marks["task_start"]
